package benchmarks

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestGEMMTable prints the full GEMM table when TESSELLA_GEMM_TABLE is set
// to a format (md, csv, json); otherwise it is skipped. Example:
//
//	TESSELLA_GEMM_TABLE=md go test ./benchmarks -run GEMMTable -v -timeout 30m [-tags openblas]
func TestGEMMTable(t *testing.T) {
	format := os.Getenv("TESSELLA_GEMM_TABLE")
	if format == "" {
		t.Skip("set TESSELLA_GEMM_TABLE=md|csv|json to run the full GEMM benchmark")
	}
	opts := GEMMOptions{Format: format, Samples: 2, MinTime: 100 * time.Millisecond, Progress: func(s string) { t.Log(s) }}
	if err := RunGEMM(context.Background(), opts, os.Stdout); err != nil {
		t.Fatal(err)
	}
}
