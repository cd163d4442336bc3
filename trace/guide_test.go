package trace

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docs/guide.md is checked against the code: every Go name it cites exists,
// and every Example it quotes is quoted with its current output.

const guidePath = "../docs/guide.md"

func readGuide(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goNames collects, from every Go file of the module, the names a reader
// may cite: functions, methods as Recv.Name, types, constants, variables
// and struct fields as Type.Field, each also with its package name in front.
func goNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	add := func(pkg string, parts ...string) {
		n := strings.Join(parts, ".")
		names[n] = true
		names[pkg+"."+n] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Logf("skipping %s: %v", path, err)
			return nil
		}
		pkg := f.Name.Name
		if strings.HasSuffix(pkg, "_test") {
			pkg = strings.TrimSuffix(pkg, "_test")
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) == 0 {
					add(pkg, d.Name.Name)
					continue
				}
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					add(pkg, id.Name, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							add(pkg, n.Name)
						}
					case *ast.TypeSpec:
						add(pkg, s.Name.Name)
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, fld := range st.Fields.List {
								for _, n := range fld.Names {
									add(pkg, s.Name.Name, n.Name)
								}
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

var (
	backticked = regexp.MustCompile("`([^`\n]+)`")
	// A qualified Go name: parts joined by dots, a part being an
	// identifier or (*Type); an optional trailing "()".
	qualified = regexp.MustCompile(`^(\(\*[A-Za-z_]\w*\)|[A-Za-z_]\w*)(\.(\(\*[A-Za-z_]\w*\)|[A-Za-z_]\w*))+(\(\))?$`)
	ident     = regexp.MustCompile(`^[A-Za-z_]\w*$`)
)

// notGo are dotted names in the guide that are files, tensors or Python.
func notGo(s string) bool {
	for _, suf := range []string{".json", ".txt", ".weight", ".md", ".go", ".py"} {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return strings.HasPrefix(s, "torch.")
}

func TestGuideNamesExist(t *testing.T) {
	guide := readGuide(t)
	names := goNames(t)
	norm := func(s string) string {
		s = strings.TrimSuffix(s, "()")
		return strings.NewReplacer("(*", "", ")", "").Replace(s)
	}
	checked := 0
	check := func(tok, where string) {
		if notGo(tok) {
			return
		}
		checked++
		if !names[norm(tok)] {
			t.Errorf("guide %s cites `%s`, which is not a Go name in the module", where, tok)
		}
	}
	for _, m := range backticked.FindAllStringSubmatch(guide, -1) {
		if qualified.MatchString(m[1]) {
			check(m[1], "text")
		}
	}
	// The index table's second column: every cell is Go names.
	i := strings.Index(guide, "## 14. Index")
	if i < 0 {
		t.Fatal("guide has no index section")
	}
	for _, line := range strings.Split(guide[i:], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.Contains(cells[2], "---") || strings.TrimSpace(cells[2]) == "Go function" {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[2], -1) {
			if qualified.MatchString(m[1]) || ident.MatchString(m[1]) {
				check(m[1], "index")
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d names checked: the patterns no longer match the guide", checked)
	}
}

// guideExamples are the files whose Examples the guide quotes.
var guideExamples = []string{
	"../model/example_guide_test.go",
	"../model/example_kernels_guide_test.go",
	"../model/vqgan/example_guide_test.go",
	"../tokenizer/example_guide_test.go",
	"../tokenizer/example_test.go",
	"../trace/example_test.go",
}

func TestGuideQuotesExamples(t *testing.T) {
	guide := readGuide(t)
	fset := token.NewFileSet()
	n := 0
	for _, path := range guideExamples {
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range doc.Examples(f) {
			name := "Example" + ex.Name // doc.Examples drops the "Example" prefix
			if !strings.Contains(guide, "`"+name+"`") {
				t.Errorf("%s: %s is not cited in the guide", path, name)
				continue
			}
			out := strings.TrimSpace(ex.Output)
			if out == "" {
				t.Errorf("%s: %s has no output", path, name)
				continue
			}
			if !strings.Contains(guide, "```\n"+out+"\n```") {
				t.Errorf("%s: the guide does not quote %s's output as a code block:\n%s", path, name, out)
			}
			n++
		}
	}
	if n < 10 {
		t.Errorf("only %d Examples checked", n)
	}
}
