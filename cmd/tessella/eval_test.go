package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/eval/shapes64"
)

func TestEvalShapesCommand(t *testing.T) {
	dir := t.TempDir()
	sheet := filepath.Join(dir, "sheet.png")
	var out, errb bytes.Buffer
	err := cmdEval(context.Background(), []string{"shapes", "--model", "tiny-random", "--n", "3", "--seed", "7",
		"--split", "heldout", "--format", "json", "--sheet", sheet, "--quiet"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var r shapes64.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out.String())
	}
	if r.N != 3 || r.Split != "heldout" || r.Seed != 7 || len(r.Items) != 3 || r.Model != "local:tiny-random" ||
		r.Scores["all scenes"]["all"].Total != 3 {
		t.Errorf("report %+v", r)
	}
	for i, it := range r.Items {
		if it.Seed != 7+uint64(i) || it.Caption == "" {
			t.Errorf("item %d: seed %d caption %q", i, it.Seed, it.Caption)
		}
	}
	f, err := os.Open(sheet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := pngConfig(f)
	if err != nil || cfg.Width != 3*200 {
		t.Errorf("contact sheet: %+v, %v; want 600 px wide", cfg, err)
	}
	// The sheet is not overwritten without --force, and that is refused
	// before the evaluation runs, not after it.
	out.Reset()
	err = cmdEval(context.Background(), []string{"shapes", "--model", "tiny-random", "--n", "2", "--quiet", "--sheet", sheet}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "already exists") || out.Len() != 0 {
		t.Errorf("second run: err %v (want: the sheet exists, refused before the run), output\n%s", err, out.String())
	}
	// With --force: the report, and the sheet replaced.
	out.Reset()
	err = cmdEval(context.Background(), []string{"shapes", "--model", "tiny-random", "--n", "2", "--quiet", "--sheet", sheet, "--force"}, &out, &errb)
	if err != nil || !strings.Contains(out.String(), "| **all** (fully right) |") {
		t.Errorf("--force run: err %v, output\n%s", err, out.String())
	}
	// --sample-seed: the same prompts, generated with other seeds.
	out.Reset()
	err = cmdEval(context.Background(), []string{"shapes", "--model", "tiny-random", "--n", "3", "--seed", "7",
		"--sample-seed", "100", "--split", "heldout", "--format", "json", "--quiet"}, &out, &errb)
	var again shapes64.Report
	if err == nil {
		err = json.Unmarshal(out.Bytes(), &again)
	}
	if err != nil || again.Seed != 7 || again.SampleSeed != 100 || len(again.Items) != 3 {
		t.Fatalf("--sample-seed 100: err %v, report seed %d sample seed %d, %d items", err, again.Seed, again.SampleSeed, len(again.Items))
	}
	for i, it := range again.Items {
		if it.Seed != 100+uint64(i) || it.Caption != r.Items[i].Caption {
			t.Errorf("--sample-seed 100, item %d: seed %d caption %q, want seed %d caption %q", i, it.Seed, it.Caption, 100+i, r.Items[i].Caption)
		}
	}
}

func TestEvalShapesUsage(t *testing.T) {
	for _, args := range [][]string{
		nil, {"faces"}, {"shapes", "--split", "test"}, {"shapes", "--n", "0"}, {"shapes", "--format", "csv"},
		{"shapes", "--temperature", "0"}, {"shapes", "extra"}, {"shapes", "--candidates", "0"}, {"shapes", "--candidates", "99"},
	} {
		var out, errb bytes.Buffer
		err := cmdEval(context.Background(), args, &out, &errb)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%q: err %v, want a usage error (exit 2)", args, err)
		}
	}
	var out, errb bytes.Buffer
	if err := cmdEval(context.Background(), []string{"shapes", "--n", "1", "--dtype", "f7"}, &out, &errb); err == nil ||
		!strings.Contains(err.Error(), "f7") {
		t.Errorf("--dtype f7: err %v, want an error naming the dtype", err)
	}
}

// eval compare pairs two reports of the same prompts and refuses others.
func TestEvalCompareCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, extra ...string) string {
		var out, errb bytes.Buffer
		args := append([]string{"shapes", "--model", "tiny-random", "--n", "3", "--format", "json", "--quiet"}, extra...)
		if err := cmdEval(context.Background(), args, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := write("a.json", "--seed", "7"), write("b.json", "--seed", "7", "--sample-seed", "100")
	other := write("other.json", "--seed", "8")
	var out, errb bytes.Buffer
	if err := cmdEval(context.Background(), []string{"compare", a, b}, &out, &errb); err != nil {
		t.Fatalf("compare: %v\n%s", err, errb.String())
	}
	for _, s := range []string{"scenes of seed 7, 3 prompts", "sampled with seeds 7…", "sampled with seeds 100…",
		"| all scenes (3) |", "Right in A only", "Right in B only"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("compare output lacks %q:\n%s", s, out.String())
		}
	}
	notJSON := filepath.Join(dir, "x.json")
	os.WriteFile(notJSON, []byte("| a markdown table |"), 0o644)
	for _, args := range [][]string{{"compare", a}, {"compare", a, other}, {"compare", a, notJSON},
		{"compare", a, filepath.Join(dir, "missing.json")}} {
		out.Reset()
		if err := cmdEval(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error; output\n%s", args[1:], out.String())
		}
	}
}
