package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// names lists the entries of dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// noTemps fails if a temporary file is left in one of dirs.
func noTemps(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		for _, n := range names(t, d) {
			if strings.Contains(n, ".tmp-") {
				t.Errorf("temporary file %s left in %s", n, d)
			}
		}
	}
}

func writeFile(t *testing.T, path, data string, perm fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links:", err)
	}
}

// check fails unless path holds data with permission bits perm.
func check(t *testing.T, path, data string, perm fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != data {
		t.Errorf("%s holds %q, want %q", path, got, data)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != perm {
		t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), perm)
	}
}

func isLink(t *testing.T, path, target string) {
	t.Helper()
	got, err := os.Readlink(path)
	if err != nil || got != target {
		t.Errorf("%s: link to %q (%v), want a link to %q", path, got, err, target)
	}
}

func TestWriteNew(t *testing.T) {
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprint("replace=", replace), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "new.txt")
			if err := WriteBytes(path, []byte("hello"), replace); err != nil {
				t.Fatal(err)
			}
			check(t, path, "hello", 0o644)
			if got := names(t, dir); !reflect.DeepEqual(got, []string{"new.txt"}) {
				t.Errorf("folder holds %q", got)
			}
		})
	}
}

func TestReplaceKeepsMode(t *testing.T) {
	dir := t.TempDir()
	for _, perm := range []fs.FileMode{0o600, 0o640, 0o664, 0o755} {
		path := filepath.Join(dir, fmt.Sprintf("f%o", perm))
		writeFile(t, path, "old", perm)
		if err := Write(path, true, func(w io.Writer) error {
			_, err := io.WriteString(w, "new")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		check(t, path, "new", perm)
	}
	noTemps(t, dir)
}

// TestReplaceThroughLink: the link stays, the file it leads to is
// replaced and keeps its mode; also through a chain, to another folder
// and by a relative target with "..".
func TestReplaceThroughLink(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real.txt")
	writeFile(t, real, "old", 0o600)
	link := filepath.Join(dir, "link.txt")
	symlink(t, "real.txt", link)
	if err := WriteBytes(link, []byte("one"), true); err != nil {
		t.Fatal(err)
	}
	isLink(t, link, "real.txt")
	check(t, real, "one", 0o600)

	// sub/up → ../link.txt → real.txt
	up := filepath.Join(sub, "up")
	symlink(t, "../link.txt", up)
	if err := WriteBytes(up, []byte("two"), true); err != nil {
		t.Fatal(err)
	}
	isLink(t, up, "../link.txt")
	isLink(t, link, "real.txt")
	check(t, real, "two", 0o600)

	// An absolute link into another folder.
	other := filepath.Join(sub, "other.txt")
	writeFile(t, other, "old", 0o640)
	abs := filepath.Join(dir, "abs.txt")
	symlink(t, other, abs)
	if err := WriteBytes(abs, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	isLink(t, abs, other)
	check(t, other, "three", 0o640)
	noTemps(t, dir, sub)
}

func TestReplaceDanglingLinkCreatesTarget(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	symlink(t, "sub/made.txt", link)
	if err := WriteBytes(link, []byte("made"), true); err != nil {
		t.Fatal(err)
	}
	isLink(t, link, "sub/made.txt")
	check(t, filepath.Join(sub, "made.txt"), "made", 0o644)
	noTemps(t, dir, sub)
}

// TestNoReplaceRefusesExisting: without replace an existing file, a link
// and a dangling link are refused with fs.ErrExist, by Stage and, for a
// path that appears after Stage, by Commit, and are left as they were.
func TestNoReplaceRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, "precious", 0o600)
	link := filepath.Join(dir, "link")
	symlink(t, "file", link)
	dangling := filepath.Join(dir, "dangling")
	symlink(t, "missing", dangling)
	for _, p := range []string{file, link, dangling} {
		err := WriteBytes(p, []byte("x"), false)
		if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), p) {
			t.Errorf("WriteBytes(%s): %v, want an error naming it, wrapping fs.ErrExist", p, err)
		}
	}

	// The path appears between Stage and Commit.
	for _, mk := range []func(p string){
		func(p string) { writeFile(t, p, "precious", 0o600) },
		func(p string) { symlink(t, "missing", p) },
	} {
		p := filepath.Join(dir, "late")
		s, err := Stage(p, false, func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err })
		if err != nil {
			t.Fatal(err)
		}
		mk(p)
		if err := s.Commit(); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Commit over a path made after Stage: %v, want fs.ErrExist", err)
		}
		s.Discard()
		if st, err := os.Lstat(p); err != nil {
			t.Fatal(err)
		} else if st.Mode().IsRegular() {
			check(t, p, "precious", 0o600)
		} else {
			isLink(t, p, "missing")
		}
		os.Remove(p)
	}

	check(t, file, "precious", 0o600)
	isLink(t, link, "file")
	isLink(t, dangling, "missing")
	if got := names(t, dir); !reflect.DeepEqual(got, []string{"dangling", "file", "link"}) {
		t.Errorf("folder holds %q", got)
	}
}

// TestFolderRefused: a folder, or a link to one, is never replaced.
func TestFolderRefused(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	symlink(t, "sub", link)
	for _, p := range []string{sub, link} {
		if err := WriteBytes(p, []byte("x"), true); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), p) {
			t.Errorf("replace %s: %v, want an error naming it, wrapping ErrNotRegular", p, err)
		}
		if err := WriteBytes(p, []byte("x"), false); !errors.Is(err, fs.ErrExist) {
			t.Errorf("no replace %s: %v, want fs.ErrExist", p, err)
		}
	}
	if st, err := os.Stat(sub); err != nil || !st.IsDir() {
		t.Errorf("the folder was replaced: %v", err)
	}
	isLink(t, link, "sub")
	if got := names(t, sub); len(got) != 0 {
		t.Errorf("the folder holds %q", got)
	}
	if got := names(t, dir); !reflect.DeepEqual(got, []string{"link", "sub"}) {
		t.Errorf("folder holds %q", got)
	}
}

// TestFailedWriteLeavesNothing: an error from the write function, or a
// panic in it, leaves no temporary file and the old file as it was.
func TestFailedWriteLeavesNothing(t *testing.T) {
	boom := errors.New("boom")
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprint("replace=", replace), func(t *testing.T) {
			dir := t.TempDir()
			old := filepath.Join(dir, "old")
			writeFile(t, old, "precious", 0o600)
			fail := func(w io.Writer) error {
				io.WriteString(w, strings.Repeat("partial", 1<<18)) // past the buffer
				return boom
			}
			path := filepath.Join(dir, "new")
			if replace {
				path = old
			}
			if err := Write(path, replace, fail); !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
				t.Errorf("Write: %v, want an error naming %s, wrapping the write function's", err, path)
			}
			if s, err := Stage(path, replace, fail); s != nil || !errors.Is(err, boom) {
				t.Errorf("Stage: %v, %v", s, err)
			}
			func() {
				defer func() {
					if recover() == nil {
						t.Error("no panic")
					}
				}()
				Stage(path, replace, func(w io.Writer) error {
					io.WriteString(w, "partial")
					panic("write panics")
				})
			}()
			check(t, old, "precious", 0o600)
			if got := names(t, dir); !reflect.DeepEqual(got, []string{"old"}) {
				t.Errorf("folder holds %q", got)
			}
		})
	}
}

// TestLinkLoop: a loop of links is an error, not a hang; a long chain
// within the limit works.
func TestLinkLoop(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	symlink(t, "b", a)
	symlink(t, "a", b)
	self := filepath.Join(dir, "self")
	symlink(t, "self", self)
	for _, p := range []string{a, self} {
		done := make(chan error, 1)
		go func() { done <- WriteBytes(p, []byte("x"), true) }()
		select {
		case err := <-done:
			if err == nil || err.Error() != p+": more than 40 levels of symbolic links" {
				t.Errorf("%s: %v, want a link-levels error", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still resolving after 10s", p)
		}
	}
	// c0 → c1 → … → c9 → end (missing)
	for i := range 10 {
		next := fmt.Sprintf("c%d", i+1)
		if i == 9 {
			next = "end"
		}
		symlink(t, next, filepath.Join(dir, fmt.Sprintf("c%d", i)))
	}
	if err := WriteBytes(filepath.Join(dir, "c0"), []byte("end"), true); err != nil {
		t.Fatal(err)
	}
	check(t, filepath.Join(dir, "end"), "end", 0o644)
	noTemps(t, dir)
}

func TestStagedLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	write := func(w io.Writer) error { _, err := io.WriteString(w, "data"); return err }

	// Discard without Commit: nothing written, twice is fine.
	s, err := Stage(path, false, write)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); len(got) != 1 || !strings.HasPrefix(got[0], ".tessella-f.tmp-") {
		t.Fatalf("after Stage the folder holds %q, want one temporary file", got)
	}
	s.Discard()
	s.Discard()
	if err := s.Commit(); err == nil {
		t.Error("Commit after Discard succeeded")
	}
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("after Discard the folder holds %q", got)
	}

	// Commit, then Discard is harmless; a second Commit fails.
	for _, replace := range []bool{false, true} {
		s, err := Stage(path, replace, write)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
		s.Discard()
		if err := s.Commit(); err == nil {
			t.Error("a second Commit succeeded")
		}
		check(t, path, "data", 0o644)
		if got := names(t, dir); !reflect.DeepEqual(got, []string{"f"}) {
			t.Errorf("folder holds %q", got)
		}
	}
}

// TestCopyFallback takes the path used where hard links are not supported.
func TestCopyFallback(t *testing.T) {
	hardLink = func(string, string) error {
		return &os.LinkError{Op: "link", Err: syscall.ENOTSUP}
	}
	defer func() { hardLink = os.Link }()
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteBytes(path, []byte("copied"), false); err != nil {
		t.Fatal(err)
	}
	check(t, path, "copied", 0o644)
	if err := WriteBytes(path, []byte("again"), false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second write: %v, want fs.ErrExist", err)
	}
	s, err := Stage(filepath.Join(dir, "g"), false, func(w io.Writer) error { _, err := io.WriteString(w, "late"); return err })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Discard()
	writeFile(t, filepath.Join(dir, "g"), "precious", 0o600)
	if err := s.Commit(); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Commit over a path made after Stage: %v, want fs.ErrExist", err)
	}
	s.Discard()
	check(t, path, "copied", 0o644)
	check(t, filepath.Join(dir, "g"), "precious", 0o600)
	if got := names(t, dir); !reflect.DeepEqual(got, []string{"f", "g"}) {
		t.Errorf("folder holds %q", got)
	}
}

// TestConcurrentNoReplace: of several writers racing for one name without
// replace exactly one wins; the file is whole.
func TestConcurrentNoReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			errs[i] = WriteBytes(path, []byte(strings.Repeat(fmt.Sprint(i), 1000)), false)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("writer %d: %v, want fs.ErrExist", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	check(t, path, strings.Repeat(fmt.Sprint(winner), 1000), 0o644)
	if got := names(t, dir); !reflect.DeepEqual(got, []string{"f"}) {
		t.Errorf("folder holds %q", got)
	}
}

func TestLongAndBadNames(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("é", 127)) // 254 bytes
	if err := WriteBytes(long, []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	check(t, long, "x", 0o644)
	for _, p := range []string{"", dir + string(filepath.Separator)} {
		if err := WriteBytes(p, []byte("x"), true); err == nil {
			t.Errorf("WriteBytes(%q) succeeded", p)
		}
	}
	if err := WriteBytes(filepath.Join(dir, "missing", "f"), []byte("x"), false); err == nil {
		t.Error("a write into a missing folder succeeded")
	}
	noTemps(t, dir)
}

// TestCheck: Check refuses what Write refuses, with the same error, and
// passes what Write commits, changing nothing itself; with replace it
// probes the folder of the file a link leads to, not the link's.
func TestCheck(t *testing.T) {
	type result struct {
		ok          bool
		exist, notR bool
	}
	classify := func(err error) result {
		return result{err == nil, errors.Is(err, fs.ErrExist), errors.Is(err, ErrNotRegular)}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path
		ok    [2]bool                               // [no replace, replace]
	}{
		{"new file", func(t *testing.T, dir string) string { return filepath.Join(dir, "new") }, [2]bool{true, true}},
		{"existing file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "f")
			writeFile(t, p, "old", 0o600)
			return p
		}, [2]bool{false, true}},
		{"dangling link", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "dangling")
			symlink(t, "nowhere", p)
			return p
		}, [2]bool{false, true}},
		{"link into a missing folder", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "far")
			symlink(t, filepath.Join("missing", "x"), p)
			return p
		}, [2]bool{false, false}},
		{"link to a file in another folder", func(t *testing.T, dir string) string {
			other := filepath.Join(dir, "other")
			os.Mkdir(other, 0o755)
			writeFile(t, filepath.Join(other, "f"), "old", 0o600)
			p := filepath.Join(dir, "link")
			symlink(t, filepath.Join("other", "f"), p)
			return p
		}, [2]bool{false, true}},
		{"folder", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "sub")
			os.Mkdir(p, 0o755)
			return p
		}, [2]bool{false, false}},
		{"link to a folder", func(t *testing.T, dir string) string {
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
			p := filepath.Join(dir, "link")
			symlink(t, "sub", p)
			return p
		}, [2]bool{false, false}},
		{"link loop", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "self")
			symlink(t, "self", p)
			return p
		}, [2]bool{false, false}},
		{"missing folder", func(t *testing.T, dir string) string { return filepath.Join(dir, "missing", "f") }, [2]bool{false, false}},
		{"file as folder", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "plain"), "x", 0o644)
			return filepath.Join(dir, "plain", "f")
		}, [2]bool{false, false}},
		{"no file name", func(t *testing.T, dir string) string { return dir + string(filepath.Separator) }, [2]bool{false, false}},
	} {
		for i, replace := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/replace=%v", tc.name, replace), func(t *testing.T) {
				dir := t.TempDir()
				path := tc.setup(t, dir)
				before := names(t, dir)
				cerr := Check(path, replace)
				if (cerr == nil) != tc.ok[i] {
					t.Errorf("Check: %v, want ok=%v", cerr, tc.ok[i])
				}
				if cerr != nil && !strings.Contains(cerr.Error(), strings.TrimSuffix(path, string(filepath.Separator))) {
					t.Errorf("Check: %q does not name %s", cerr, path)
				}
				if got := names(t, dir); !reflect.DeepEqual(got, before) {
					t.Errorf("Check changed the folder: %q, was %q", got, before)
				}
				noTemps(t, dir)
				if other := filepath.Join(dir, "other"); tc.name == "link to a file in another folder" {
					noTemps(t, other)
				}
				werr := WriteBytes(path, []byte("new"), replace)
				if classify(cerr) != classify(werr) {
					t.Errorf("Check: %v; Write: %v", cerr, werr)
				}
				if cerr != nil && werr != nil && cerr.Error() != werr.Error() && !strings.Contains(cerr.Error(), "tmp") {
					t.Errorf("Check: %q; Write: %q (want the same error)", cerr, werr)
				}
			})
		}
	}
}

// TestCheckReadOnlyTarget: with replace, a link in a writable folder to a
// file in a read-only one fails Check (the temporary file goes next to the
// target), while without replace the link itself is refused.
func TestCheckReadOnlyTarget(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes in read-only folders")
	}
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ro, "f"), "old", 0o644)
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	link := filepath.Join(dir, "link")
	symlink(t, filepath.Join("ro", "f"), link)
	if err := Check(link, true); err == nil || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), link) {
		t.Errorf("Check(link to a file in a read-only folder, replace): %v, want a permission error naming the link", err)
	}
	if err := Check(filepath.Join(dir, "new"), true); err != nil {
		t.Errorf("Check(new file in a writable folder): %v", err)
	}
	if err := Check(filepath.Join(ro, "new"), false); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Check(new file in a read-only folder): %v", err)
	}
}

// SameTarget finds two paths whose writes land on one file, through links
// (replace only), through a folder link, and for files that do not exist
// yet; different files are different.
func TestSameTarget(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "x"), "x", 0o644)
	writeFile(t, filepath.Join(dir, "y"), "y", 0o644)
	symlink(t, "x", filepath.Join(dir, "lx"))      // existing target
	symlink(t, "new", filepath.Join(dir, "d1"))    // dangling, one target
	symlink(t, "new", filepath.Join(dir, "d2"))    //
	symlink(t, "sub", filepath.Join(dir, "subl"))  // a folder link
	symlink(t, "d1", filepath.Join(dir, "chain"))  // link to a dangling link
	symlink(t, "loop", filepath.Join(dir, "loop")) // a loop
	j := func(n string) string { return filepath.Join(dir, n) }
	for _, c := range []struct {
		a, b    string
		replace bool
		want    bool
	}{
		{j("x"), j("x"), false, true},
		{j("x"), j("y"), true, false},
		{j("x"), j("lx"), true, true},
		{j("x"), j("lx"), false, true}, // Stat follows lx to x; without replace the write of lx is refused anyway
		{j("d1"), j("d2"), true, true},
		{j("d1"), j("d2"), false, false},
		{j("d1"), j("new"), true, true},
		{j("chain"), j("d2"), true, true},
		{j("sub/f"), j("subl/f"), false, true},
		{j("sub/f"), j("subl/g"), true, false},
		{j("sub/../f"), j("f"), false, true},
		{j("loop"), j("loop2"), true, false},
		{j("new"), j("x"), true, false},
	} {
		if got := SameTarget(c.a, c.b, c.replace); got != c.want {
			t.Errorf("SameTarget(%s, %s, %v) = %v, want %v", c.a, c.b, c.replace, got, c.want)
		}
		if got := SameTarget(c.b, c.a, c.replace); got != c.want {
			t.Errorf("SameTarget(%s, %s, %v) = %v, want %v (swapped)", c.b, c.a, c.replace, got, c.want)
		}
	}
	// Target is what SameTarget compares for a staged file.
	s, err := Stage(j("d1"), true, func(w io.Writer) error { _, err := io.WriteString(w, "z"); return err })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Discard()
	if s.Target() != j("new") {
		t.Errorf("Target() = %s, want %s", s.Target(), j("new"))
	}
}

// Collision names the first colliding pair in order, and none when every
// path is its own file.
func TestCollision(t *testing.T) {
	dir := t.TempDir()
	j := func(n string) string { return filepath.Join(dir, n) }
	writeFile(t, j("x"), "x", 0o644)
	symlink(t, "x", j("lx"))
	if i, k, found := Collision([]string{j("a"), j("x"), j("b"), j("lx")}, true); !found || i != 1 || k != 3 {
		t.Errorf("Collision = %d, %d, %v; want 1, 3, true", i, k, found)
	}
	if _, _, found := Collision([]string{j("a"), j("x"), j("b")}, true); found {
		t.Error("Collision found a pair among three different files")
	}
	if _, _, found := Collision(nil, true); found {
		t.Error("Collision found a pair in no paths")
	}
}
