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
	if r.Model != "default" || r.Engine != "local:default" || r.TotalS <= 0 || r.DecodeS <= 0 || r.StepMedian <= 0 {
		t.Errorf("report %+v, want model default run by local:default", r)
	}
}
