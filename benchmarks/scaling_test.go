package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestRunScaling(t *testing.T) {
	opts := ScalingOptions{Threads: 2, Rounds: 3, Shapes: [][3]int{{20, 40, 30}, {3, 33, 7}}}
	var md bytes.Buffer
	if err := RunScaling(context.Background(), opts, &md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 20,40,30 |", "| 3,33,7 |", "| FMA loop (the machine) |", "2 ÷ 1 (median)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
	opts.Format = "json"
	var js bytes.Buffer
	if err := RunScaling(context.Background(), opts, &js); err != nil {
		t.Fatal(err)
	}
	var rep ScalingReport
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 3 || !rep.Rows[2].FMALoop || rep.Rows[0].M != 20 || rep.Rounds != 3 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Rows {
		if !(r.GFLOPS1 > 0 && r.GFLOPSN > 0 && r.Min <= r.Median && r.Median <= r.Max && r.RatioPerFM > 0) {
			t.Errorf("row %+v: figures out of order", r)
		}
	}
}

func TestRunScalingBadOptions(t *testing.T) {
	for _, o := range []ScalingOptions{{Threads: 1}, {Rounds: -1}, {Format: "csv"}, {Shapes: [][3]int{{0, 1, 1}}}} {
		if err := RunScaling(context.Background(), o, &bytes.Buffer{}); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
