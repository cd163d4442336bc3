package benchmarks

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
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

// Shapes whose operands cannot be allocated or indexed (or whose batch
// 2·grid² overflows) are refused by ParseAttentionShape and RunAttention,
// with an error naming the shape, instead of panicking in make.
func TestAttentionShapeTooLarge(t *testing.T) {
	for _, c := range []struct {
		name string
		grid int
	}{
		{"sweep-N16777216-d8388608", 1},
		{"sweep-N9223372036854775807-d2", 1},
		{"sweep-N1073741825-d1", 1}, // one element over the bound
		{"mini-decode99999999999", 1},
		{"mega-decode1073741824-cold", 1},
		{"mini-encoder", 1 << 31}, // 2·grid² wraps to a negative batch
		{"mini-encoder", 1 << 20},
	} {
		s, err := ParseAttentionShape(c.name, c.grid)
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("ParseAttentionShape(%q, %d) = %+v, %v; want an error naming the shape", c.name, c.grid, s, err)
		}
		opts := AttentionOptions{Kernels: []string{"flash"}, Shapes: []string{c.name}, Threads: []int{1}, Grid: c.grid, MinTime: time.Millisecond}
		err = noPanic(t, c.name, func() error { return RunAttention(context.Background(), opts, io.Discard) })
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("RunAttention(%q, grid %d): %v; want an error naming the shape", c.name, c.grid, err)
		}
	}
	if _, err := ParseAttentionShape("sweep-N32768-d32768", 1); err != nil { // exactly the bound
		t.Errorf("sweep-N32768-d32768: %v", err)
	}
}

// A peer file whose times are not positive finite seconds is refused when
// it is read, with its file and line, before anything is measured (NaN
// used to fail the JSON output at the very end of the run).
func TestReadPeerBadTimes(t *testing.T) {
	dir := t.TempDir()
	peer := filepath.Join(dir, "peer.csv")
	for _, v := range []string{"NaN", "nan", "+Inf", "-Inf", "-1", "0", "-0", "1e400"} {
		data := "peer,shape,threads,mean_s\n# a comment\ntorch,sweep-N16-d8,1,0.5\ntorch,sweep-N16-d8,2," + v + "\n"
		if err := os.WriteFile(peer, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := readPeer(peer)
		if err == nil || !strings.Contains(err.Error(), peer+":4") {
			t.Errorf("mean_s %s: %v (%v), want an error at %s:4", v, m, err, peer)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the peer file must be refused before the (cancelled) measurements
		opts := AttentionOptions{Shapes: []string{"sweep-N16-d8"}, Threads: []int{1}, Format: "json", Peer: peer}
		if err := RunAttention(ctx, opts, io.Discard); err == nil || !strings.Contains(err.Error(), peer+":4") {
			t.Errorf("RunAttention with mean_s %s: %v, want the peer file's error", v, err)
		}
	}
	if err := os.WriteFile(peer, []byte("peer,shape,threads,mean_s\ntorch,sweep-N16-d8,1,2.5e-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := readPeer(peer); err != nil || m[peerKey("sweep-N16-d8", 1)] != 2.5e-3 {
		t.Errorf("good peer file: %v, %v", m, err)
	}
}

// Existing plot files are refused before anything is measured unless
// Force is set; with Force they are replaced atomically (no temporary file
// is left behind).
func TestRunAttentionPlotsKeepExistingFiles(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "attention_roofline.png")
	if err := os.WriteFile(mine, []byte("PRECIOUS"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := AttentionOptions{Kernels: []string{"flash"}, Shapes: []string{"sweep-N16-d8"}, Threads: []int{1},
		MinTime: time.Millisecond, CheckRows: 2, PlotDir: dir}
	var buf bytes.Buffer
	err := RunAttention(context.Background(), opts, &buf)
	if err == nil || !strings.Contains(err.Error(), "attention_roofline.png") || !errors.Is(err, fs.ErrExist) {
		t.Errorf("existing plot without Force: %v, want an error naming it", err)
	}
	if buf.Len() != 0 {
		t.Errorf("refused run still measured and wrote %d bytes", buf.Len())
	}
	if b, _ := os.ReadFile(mine); string(b) != "PRECIOUS" {
		t.Fatalf("the existing plot was changed: %q", b)
	}
	opts.Force = true
	if err := RunAttention(context.Background(), opts, &buf); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "attention_") || !strings.HasSuffix(e.Name(), ".png") {
			t.Errorf("left behind %s", e.Name())
		}
	}
	for _, f := range []string{"attention_gflops_vs_n.png", "attention_scratch_vs_n.png", "attention_roofline.png"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("plot %s: %d bytes, %v; want a PNG", f, len(b), err)
		}
	}
}

// With Force, two plot names that are links to one file are refused before
// anything is measured: the later plot would replace the earlier.
func TestRunAttentionPlotsTwoLinksOneFile(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	shared := filepath.Join(elsewhere, "shared.png")
	if err := os.WriteFile(shared, []byte("PRECIOUS"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"attention_gflops_vs_n.png", "attention_roofline.png"} {
		if err := os.Symlink(shared, filepath.Join(dir, name)); err != nil {
			t.Skip("no symbolic links:", err)
		}
	}
	opts := AttentionOptions{Kernels: []string{"flash"}, Shapes: []string{"sweep-N16-d8"}, Threads: []int{1},
		MinTime: time.Millisecond, CheckRows: 2, PlotDir: dir, Force: true}
	var buf bytes.Buffer
	err := RunAttention(context.Background(), opts, &buf)
	if err == nil || !strings.Contains(err.Error(), "lead to the same file") {
		t.Fatalf("err = %v, want two plots leading to one file refused", err)
	}
	if buf.Len() != 0 {
		t.Errorf("refused run still measured and wrote %d bytes", buf.Len())
	}
	if b, _ := os.ReadFile(shared); string(b) != "PRECIOUS" {
		t.Fatalf("the shared file was changed: %q", b)
	}
}
