package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RunModel times the model it is asked for: "default" is the embedded
// model (not Mini's random weights), and the JSON report says which.
func TestRunModelDefault(t *testing.T) {
	var b bytes.Buffer
	if err := RunModel(context.Background(), ModelOptions{Model: "default", Threads: 1, Format: "json"}, &b); err != nil {
		t.Fatal(err)
	}
	var r ModelResult
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if r.Model != "default" || r.Engine != "local:default" || r.TotalS <= 0 || r.DecodeS <= 0 || r.StepMedian <= 0 ||
		r.Candidates != 1 || r.RankS != 0 {
		t.Errorf("report %+v, want model default run by local:default, one candidate, no ranking", r)
	}
}

// With candidates the timed image is best of K: the report says K and has
// a ranking time (the default model's judge decodes and scores them).
func TestRunModelCandidates(t *testing.T) {
	var b bytes.Buffer
	if err := RunModel(context.Background(), ModelOptions{Model: "default", Threads: 1, Format: "json", Candidates: 2}, &b); err != nil {
		t.Fatal(err)
	}
	var r ModelResult
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if r.Candidates != 2 || r.RankS <= 0 || r.DecodeS <= 0 {
		t.Errorf("report %+v, want 2 candidates with a ranking time", r)
	}
}

// The CPU profile is written once the run has finished, atomically; an
// existing file is refused before anything runs unless Force is set.
func TestRunModelCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	opts := ModelOptions{Model: "tiny-random", Threads: 1, Format: "json", CPUProfile: path}
	if err := RunModel(context.Background(), opts, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // pprof profiles are gzip
		t.Fatalf("profile: %d bytes, %v; want a gzip pprof profile", len(b), err)
	}
	os.WriteFile(path, []byte("mine"), 0o644)
	if err := RunModel(context.Background(), opts, io.Discard); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("existing profile without Force: %v, want an error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "mine" {
		t.Error("the existing file was changed")
	}
	opts.Force = true
	if err := RunModel(context.Background(), opts, io.Discard); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) < 2 || b[0] != 0x1f {
		t.Error("with Force the profile did not replace the file")
	}
	if err := RunModel(context.Background(), ModelOptions{Model: "tiny-random", Format: "xml"}, io.Discard); err == nil {
		t.Error("format xml accepted")
	}
}

// A CPU profile that could not be written at the end (its folder is
// missing, or it names a folder) is refused before the model is loaded and
// run, not after the whole run with the report lost. The context is
// cancelled, so a run that went ahead would fail with context.Canceled.
func TestRunModelCPUProfileUnwritable(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		path  string
		force bool
		want  string
	}{
		{filepath.Join(dir, "nope", "cpu.prof"), false, filepath.Join(dir, "nope")},
		{filepath.Join(dir, "nope", "cpu.prof"), true, filepath.Join(dir, "nope")},
		{dir, true, "folder"},
		{dir, false, "exists"},
	} {
		opts := ModelOptions{Model: "tiny-random", Threads: 1, CPUProfile: c.path, Force: c.force}
		err := RunModel(ctx, opts, io.Discard)
		if err == nil || errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("profile %s (force %v): %v, want an up-front error mentioning %q", c.path, c.force, err, c.want)
		}
	}
}
