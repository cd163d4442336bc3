package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
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
