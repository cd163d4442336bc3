package benchmarks

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseAttentionShape(t *testing.T) {
	cases := []struct {
		name string
		want AttentionShape
	}{
		{"mini-encoder", AttentionShape{Batch: 2, Heads: 16, QLen: 64, KVLen: 64, HeadDim: 64}},
		{"mega-self256", AttentionShape{Batch: 2, Heads: 32, QLen: 256, KVLen: 256, HeadDim: 64, Causal: true}},
		{"mega-cross256", AttentionShape{Batch: 2, Heads: 32, QLen: 256, KVLen: 64, HeadDim: 64}},
		{"mini-cross1", AttentionShape{Batch: 2, Heads: 16, QLen: 1, KVLen: 64, HeadDim: 64}},
		{"mega-decode256", AttentionShape{Batch: 2, Heads: 32, QLen: 1, KVLen: 256, HeadDim: 64}},
		{"sweep-N4096-d128-causal", AttentionShape{Batch: 1, Heads: 1, QLen: 4096, KVLen: 4096, HeadDim: 128, Causal: true}},
	}
	for _, c := range cases {
		got, err := ParseAttentionShape(c.name, 1)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		c.want.Name = c.name
		if got != c.want {
			t.Errorf("%s = %+v, want %+v", c.name, got, c.want)
		}
	}
	if s, _ := ParseAttentionShape("mini-encoder", 3); s.Batch != 18 {
		t.Errorf("grid 3: batch %d, want 18", s.Batch)
	}
	for _, bad := range []string{"", "mini", "huge-encoder", "mini-decodeX", "sweep-N-d64", "sweep-N64", "mini-foo"} {
		if _, err := ParseAttentionShape(bad, 1); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, n := range AttentionShapeNames() {
		if _, err := ParseAttentionShape(n, 1); err != nil {
			t.Errorf("listed shape %s: %v", n, err)
		}
	}
	if got := (AttentionShape{Batch: 1, Heads: 2, QLen: 3, KVLen: 4, HeadDim: 5, Causal: true}).FLOP(); got != 240 {
		t.Errorf("FLOP = %g, want 240", got)
	}
}

// TestRunAttention runs a tiny suite in every format and checks that the
// results are complete, accurate against the reference and merged with a
// peer file.
func TestRunAttention(t *testing.T) {
	dir := t.TempDir()
	peer := filepath.Join(dir, "peer.csv")
	if err := os.WriteFile(peer, []byte("peer,shape,threads,mean_s,sd_s,gflops\ntorch,sweep-N64-d16,1,0.001,0,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := AttentionOptions{
		Shapes:  []string{"mini-decode1", "sweep-N64-d16", "sweep-N96-d16-causal"},
		Threads: []int{1},
		MinTime: 5 * time.Millisecond,
		PlotDir: dir,
		Peer:    peer,
	}
	ctx := context.Background()

	opts.Format = "json"
	var buf bytes.Buffer
	if err := RunAttention(ctx, opts, &buf); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Env     Env
		Results []AttentionResult
	}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("json: %v", err)
	}
	// decode shape: naive, online, flash, decode; the two sweeps: 3 each.
	if len(out.Results) != 10 {
		t.Fatalf("%d results, want 10", len(out.Results))
	}
	if out.Env.PeakGFLOPS[1] <= 0 || out.Env.ReadGBs[1] <= 0 || out.Env.GoVersion == "" {
		t.Errorf("environment not measured: %+v", out.Env)
	}
	peerSeen := false
	for _, r := range out.Results {
		if r.Skipped != "" || r.MeanS <= 0 || r.GFLOPS <= 0 || r.CheckedRows == 0 {
			t.Errorf("%s/%s: incomplete result %+v", r.Kernel, r.Shape.Name, r)
		}
		if r.MaxAbsErr > 1e-4 || r.NMSE > 1e-10 {
			t.Errorf("%s/%s: max|Δ| %g NMSE %g against the reference", r.Kernel, r.Shape.Name, r.MaxAbsErr, r.NMSE)
		}
		if r.Shape.Name == "sweep-N64-d16" {
			peerSeen = peerSeen || r.PeerRatio > 0
		}
		if r.Shape.IsDecode() != (r.GBs > 0) {
			t.Errorf("%s/%s: GB/s %g reported wrongly", r.Kernel, r.Shape.Name, r.GBs)
		}
	}
	if !peerSeen {
		t.Error("peer times not merged")
	}
	for _, f := range []string{"attention_gflops_vs_n.png", "attention_scratch_vs_n.png", "attention_roofline.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s missing: %v", f, err)
		}
	}

	opts.Format, opts.PlotDir, opts.Shapes = "csv", "", []string{"sweep-N64-d16"}
	buf.Reset()
	if err := RunAttention(ctx, opts, &buf); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(&buf)
	cr.Comment = '#'
	recs, err := cr.ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "kernel" {
		t.Fatalf("csv: %d records, err %v", len(recs), err)
	}

	opts.Format = "md"
	buf.Reset()
	if err := RunAttention(ctx, opts, &buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| CPU |", "flash", "naive", "online"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}

	for _, bad := range []AttentionOptions{{Format: "xml"}, {Kernels: []string{"nope"}}, {Shapes: []string{"bogus"}}, {Threads: []int{0}}, {Peer: filepath.Join(dir, "none.csv")}} {
		if err := RunAttention(ctx, bad, &buf); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}
