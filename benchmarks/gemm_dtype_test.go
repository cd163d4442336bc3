package benchmarks

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/internal/matmul"
)

// TestDTypeTable prints the decode GEMV table per weight dtype when
// TESSELLA_GEMM_DTYPE is set to md or json; otherwise it runs a tiny
// smoke version that checks the report's arithmetic. TESSELLA_GEMM_THREADS
// sets the goroutines (default 1). Example:
//
//	TESSELLA_GEMM_DTYPE=md go test ./benchmarks -run DTypeTable -v -timeout 20m
func TestDTypeTable(t *testing.T) {
	format := os.Getenv("TESSELLA_GEMM_DTYPE")
	if format == "" {
		rep, err := MeasureDType(context.Background(), DTypeOptions{Shapes: [][3]int{{2, 37, 70}}, Bytes: 1 << 16, Rounds: 1, BWBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Results) != 4 {
			t.Fatalf("%d results, want 4 dtypes", len(rep.Results))
		}
		for _, r := range rep.Results {
			if r.Seconds <= 0 || r.Copies < 2 || r.VsF32 <= 0 {
				t.Errorf("%s: %+v", r.DType, r)
			}
		}
		if q8 := rep.Results[3]; q8.DType != matmul.Q8.String() || q8.WeightBytes != 64*96+64*3*4 {
			t.Errorf("q8 cell %+v: want 64 rows (one block) × 96 bytes + 192 scales", q8)
		}
		var b strings.Builder
		if err := WriteDType(&b, rep, "md"); err != nil || !strings.Contains(b.String(), "| 2,37,70 | q8 |") {
			t.Errorf("table:\n%s (err %v)", b.String(), err)
		}
		return
	}
	threads := 1
	if s := os.Getenv("TESSELLA_GEMM_THREADS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TESSELLA_GEMM_THREADS=%q: want a positive integer", s)
		}
		threads = n
	}
	rep, err := MeasureDType(context.Background(), DTypeOptions{Threads: threads, Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteDType(os.Stdout, rep, format); err != nil {
		t.Fatal(err)
	}
}
