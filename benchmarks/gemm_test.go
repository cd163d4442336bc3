package benchmarks

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tessella-ml/tessella/internal/matmul"
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

// noPanic runs f and turns a panic into a test failure, so that one table
// case that panics does not hide the others.
func noPanic(t *testing.T, name string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: panic %v, want an error", name, r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// Shapes whose operands cannot be allocated (or whose sizes overflow int)
// are refused up front with an error naming the shape, by every GEMM
// benchmark, before anything is measured.
func TestOversizedGEMMShapes(t *testing.T) {
	ctx := context.Background()
	for _, s := range [][3]int{
		{1, 1 << 61, 1},             // n·k fine for int, but no such slice
		{1 << 31, 1 << 31, 1 << 31}, // every product overflows… almost
		{1 << 40, 1 << 40, 1 << 40}, // products wrap around
		{3, maxOperandElems + 1, 1}, // just over the bound
		{maxOperandElems, 1, 2},     // m·k over the bound
		{1 << 20, 1 << 20, 1},       // m·n over the bound
	} {
		name := fmt.Sprintf("%d,%d,%d", s[0], s[1], s[2])
		runs := map[string]func() error{
			"scaling": func() error {
				return RunScaling(ctx, ScalingOptions{Threads: 2, Rounds: 1, Shapes: [][3]int{s}}, &bytes.Buffer{})
			},
			"gemm": func() error {
				return RunGEMM(ctx, GEMMOptions{Threads: []int{1}, Shapes: [][3]int{s}, MinTime: 1, Samples: 1, PeakTime: 1, BWBytes: -1}, &bytes.Buffer{})
			},
			"dtype": func() error {
				_, err := MeasureDType(ctx, DTypeOptions{Shapes: [][3]int{s}, Bytes: 1, Rounds: 1, BWBytes: -1})
				return err
			},
		}
		for bench, run := range runs {
			err := noPanic(t, bench+" "+name, run)
			if err == nil || !strings.Contains(err.Error(), name) && !strings.Contains(err.Error(), fmt.Sprint(s)) {
				t.Errorf("%s shape %v: %v, want an error naming the shape", bench, s, err)
			}
		}
	}
}

// MeasureDType refuses a dtype that is not one of matmul's constants
// (internal/matmul panics on one) before measuring anything.
func TestMeasureDTypeUnknownDType(t *testing.T) {
	err := noPanic(t, "dtype 99", func() error {
		_, err := MeasureDType(context.Background(), DTypeOptions{Shapes: [][3]int{{1, 8, 8}}, DTypes: []matmul.DType{matmul.F32, 99},
			Bytes: 1, Rounds: 1, BWBytes: -1})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "dtype(99)") {
		t.Errorf("dtype 99: %v, want an error naming it", err)
	}
}

// Every Write* refuses a nil report and an unknown format with an error,
// writing nothing.
func TestWriteReportsBadInput(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"WriteScaling nil md", func(w io.Writer) error { return WriteScaling(w, nil, "md") }},
		{"WriteScaling nil json", func(w io.Writer) error { return WriteScaling(w, nil, "json") }},
		{"WriteScaling csv", func(w io.Writer) error { return WriteScaling(w, &ScalingReport{}, "csv") }},
		{"WriteGEMM nil md", func(w io.Writer) error { return WriteGEMM(w, nil, "md") }},
		{"WriteGEMM nil csv", func(w io.Writer) error { return WriteGEMM(w, nil, "csv") }},
		{"WriteGEMM nil json", func(w io.Writer) error { return WriteGEMM(w, nil, "json") }},
		{"WriteGEMM bad", func(w io.Writer) error { return WriteGEMM(w, &GEMMReport{}, "bad") }},
		{"WriteDType nil md", func(w io.Writer) error { return WriteDType(w, nil, "md") }},
		{"WriteDType nil json", func(w io.Writer) error { return WriteDType(w, nil, "json") }},
		{"WriteDType xml", func(w io.Writer) error { return WriteDType(w, &DTypeReport{}, "xml") }},
	} {
		var b bytes.Buffer
		if err := noPanic(t, c.name, func() error { return c.write(&b) }); err == nil {
			t.Errorf("%s: accepted, wrote %q", c.name, b.String())
		} else if b.Len() != 0 {
			t.Errorf("%s: error %v but wrote %q", c.name, err, b.String())
		}
	}
}
