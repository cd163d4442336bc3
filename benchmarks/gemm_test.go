package benchmarks

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func tinyOpts(format string) GEMMOptions {
	return GEMMOptions{
		Threads: []int{1, 2}, Format: format,
		Shapes:  [][3]int{{2, 33, 17}, {13, 40, 70}},
		MinTime: time.Millisecond, Samples: 1, PeakTime: 5 * time.Millisecond, BWBytes: 1 << 20,
		rng: rand.New(rand.NewPCG(7, 7)),
	}
}

func TestRunGEMMFormats(t *testing.T) {
	ctx := context.Background()
	nb := len(gemmBackends())
	want := 2 * 2 * 2 * nb // shapes × layouts × threads × backends

	var js bytes.Buffer
	if err := RunGEMM(ctx, tinyOpts("json"), &js); err != nil {
		t.Fatal(err)
	}
	var rep GEMMReport
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatalf("json output: %v", err)
	}
	if len(rep.Results) != want {
		t.Fatalf("json: %d results, want %d", len(rep.Results), want)
	}
	for _, r := range rep.Results {
		if r.GFLOPS <= 0 || r.Seconds <= 0 {
			t.Errorf("cell %+v: no timing", r)
		}
		// Every backend computes the same product as gonum: float32 rounding only.
		if r.MaxRelError > 1e-5 {
			t.Errorf("cell %+v: relative error %g vs gonum", r, r.MaxRelError)
		}
		if r.Backend == "gonum" && r.VsGonum != 1 {
			t.Errorf("gonum cell ratio %g, want 1", r.VsGonum)
		}
	}

	var cs bytes.Buffer
	if err := RunGEMM(ctx, tinyOpts("csv"), &cs); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != want+1 || recs[0][0] != "m" {
		t.Fatalf("csv: %d records (header %v), want %d", len(recs), recs[0], want+1)
	}

	var md bytes.Buffer
	if err := RunGEMM(ctx, tinyOpts("md"), &md); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(md.String(), "\n| 2,33,17 |") + strings.Count(md.String(), "\n| 13,40,70 |"); rows != want {
		t.Fatalf("md: %d rows, want %d:\n%s", rows, want, md.String())
	}
}

func TestRunGEMMBadOptions(t *testing.T) {
	for _, o := range []GEMMOptions{
		{Format: "xml"}, {Threads: []int{0}}, {Layouts: []string{"mn"}},
		{Backends: []string{"cuda"}}, {Shapes: [][3]int{{0, 1, 1}}},
	} {
		if err := RunGEMM(context.Background(), o, &bytes.Buffer{}); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := RunGEMM(ctx, tinyOpts("md"), &bytes.Buffer{}); err == nil {
		t.Error("cancelled context not reported")
	}
}
