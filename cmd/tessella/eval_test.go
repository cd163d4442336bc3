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
	// Markdown, and the sheet is not overwritten without --force.
	out.Reset()
	err = cmdEval(context.Background(), []string{"shapes", "--model", "tiny-random", "--n", "2", "--quiet", "--sheet", sheet}, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "| **all** (fully right) |") {
		t.Errorf("second run: err %v (want: the sheet exists), output\n%s", err, out.String())
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
