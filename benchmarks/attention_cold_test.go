package benchmarks

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tessella-ml/tessella/attention"
)

func TestParseColdShape(t *testing.T) {
	got, err := ParseAttentionShape("mega-decode256-cold", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := AttentionShape{Name: "mega-decode256-cold", Batch: 2, Heads: 32, QLen: 1, KVLen: 256, HeadDim: 64, Cold: true}
	if got != want {
		t.Errorf("mega-decode256-cold = %+v, want %+v", got, want)
	}
	if s, _ := ParseAttentionShape("mini-decode64-cold", 2); s.Batch != 8 || !s.Cold || s.KVLen != 64 {
		t.Errorf("mini-decode64-cold grid 2 = %+v", s)
	}
	for _, bad := range []string{"mini-encoder-cold", "sweep-N64-d16-cold", "mega-decode256-cold-cold", "-cold", "mega-decodeX-cold"} {
		if _, err := ParseAttentionShape(bad, 1); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseCacheSize(t *testing.T) {
	for in, want := range map[string]int64{"48K\n": 48 << 10, "307200K": 300 << 20, "2M": 2 << 20, "1G": 1 << 30, "512": 512} {
		if got, ok := parseCacheSize(in); !ok || got != want {
			t.Errorf("parseCacheSize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "K", "-4K", "x"} {
		if _, ok := parseCacheSize(bad); ok {
			t.Errorf("parseCacheSize(%q) accepted", bad)
		}
	}
	if llcBytes() <= 0 {
		t.Error("llcBytes not positive")
	}
}

// TestColdArgs checks that the copies own distinct K and V buffers, share
// the rest, and differ from the original by at most the stated perturbation.
func TestColdArgs(t *testing.T) {
	s, err := ParseAttentionShape("mini-decode8-cold", 1)
	if err != nil {
		t.Fatal(err)
	}
	kv := int64(s.KVBytes()) // 2·4·2·16·8·64 = 128 KiB
	if n := coldCopies(s, 10*kv+1); n != 11 {
		t.Errorf("coldCopies(10·KV+1) = %d, want 11", n)
	}
	if n := coldCopies(s, 1); n != 2 {
		t.Errorf("coldCopies(1 byte) = %d, want the minimum 2", n)
	}
	a := newAttentionArgs(s, 1)
	args := coldArgs(a, 5)
	if len(args) != 5 || args[0] != a {
		t.Fatalf("coldArgs: %d copies, first is a: %v", len(args), args[0] == a)
	}
	seen := map[*float32]int{}
	for c, ca := range args {
		for _, buf := range [][]float32{ca.K.Data, ca.V.Data} {
			if len(buf) != len(a.K.Data) {
				t.Fatalf("copy %d: buffer length %d, want %d", c, len(buf), len(a.K.Data))
			}
			if prev, dup := seen[&buf[0]]; dup {
				t.Errorf("copy %d shares a K/V buffer with copy %d", c, prev)
			}
			seen[&buf[0]] = c
		}
		if &ca.Q.Data[0] != &a.Q.Data[0] || &ca.Out.Data[0] != &a.Out.Data[0] {
			t.Errorf("copy %d does not share Q and Out", c)
		}
		if c == 0 {
			continue
		}
		for name, pair := range map[string][2][]float32{"K": {a.K.Data, ca.K.Data}, "V": {a.V.Data, ca.V.Data}} {
			differ := 0
			for i, v := range pair[0] {
				w := pair[1][i]
				if v != w {
					differ++
				}
				if math.Abs(float64(v-w)) > math.Abs(float64(v))/(1<<15) {
					t.Fatalf("copy %d %s[%d] = %g, original %g: beyond 2⁻¹⁵ relative", c, name, i, w, v)
				}
			}
			if differ < len(pair[0])/2 {
				t.Errorf("copy %d: only %d of %d %s values differ from the original", c, differ, len(pair[0]), name)
			}
		}
	}
}

// seenKernel records the Args of each call.
type seenKernel struct{ seen []*attention.Args }

func (*seenKernel) Name() string { return "seen" }
func (k *seenKernel) Forward(a *attention.Args) error {
	k.seen = append(k.seen, a)
	return nil
}

// TestTimeCallsRotates checks that calls walk the copies in turn and that
// the last one is reported.
func TestTimeCallsRotates(t *testing.T) {
	s, _ := ParseAttentionShape("mini-decode1-cold", 1)
	args := coldArgs(newAttentionArgs(s, 1), 3)
	k := &seenKernel{}
	_, _, _, calls, _, last, err := timeCalls(context.Background(), k, args, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.seen) != calls+1 || calls < 3 {
		t.Fatalf("%d calls seen, %d timed (+1 warm-up)", len(k.seen), calls)
	}
	for i, a := range k.seen {
		if a != args[i%3] {
			t.Fatalf("call %d used the wrong copy", i)
		}
	}
	if last != k.seen[len(k.seen)-1] {
		t.Error("last args not the last call's")
	}
}

// TestRunAttentionCold runs a -cold decode shape and checks the result
// fields and each output format.
func TestRunAttentionCold(t *testing.T) {
	opts := AttentionOptions{
		Shapes:    []string{"mini-decode1-cold"}, // K+V = 2·4·2·16·1·64 = 16 KiB
		Kernels:   []string{"decode", "flash"},
		Threads:   []int{1, 2},
		MinTime:   5 * time.Millisecond,
		ColdBytes: 1 << 20,
		Format:    "json",
	}
	ctx := context.Background()
	var buf bytes.Buffer
	if err := RunAttention(ctx, opts, &buf); err != nil {
		t.Fatal(err)
	}
	var out struct{ Results []AttentionResult }
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("json: %v", err)
	}
	if len(out.Results) != 4 {
		t.Fatalf("%d results, want 4", len(out.Results))
	}
	for _, r := range out.Results {
		if !r.Shape.Cold || r.ColdCopies != 64 || r.ColdBytes != 1<<20 {
			t.Errorf("%s/%d: cold %v, %d copies, %g bytes; want 64 copies, 1 MiB", r.Kernel, r.Threads, r.Shape.Cold, r.ColdCopies, r.ColdBytes)
		}
		if r.GBs <= 0 || r.ColdReadGBs <= 0 || r.PctColdBW <= 0 || r.CheckedRows == 0 {
			t.Errorf("%s/%d: incomplete result %+v", r.Kernel, r.Threads, r)
		}
		if r.MaxAbsErr > 1e-4 || r.NMSE > 1e-10 {
			t.Errorf("%s/%d: max|Δ| %g NMSE %g against the reference", r.Kernel, r.Threads, r.MaxAbsErr, r.NMSE)
		}
	}

	opts.Format, opts.Kernels, opts.Threads = "md", []string{"decode"}, []int{1}
	buf.Reset()
	if err := RunAttention(ctx, opts, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "cold: 64 copies, 1.0 MiB; stream over them") {
		t.Errorf("markdown lacks the cold note:\n%s", buf.String())
	}

	opts.Format = "csv"
	buf.Reset()
	if err := RunAttention(ctx, opts, &buf); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(&buf)
	cr.Comment = '#'
	recs, err := cr.ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %d records, err %v", len(recs), err)
	}
	col := -1
	for i, h := range recs[0] {
		if h == "cold_copies" {
			col = i
		}
	}
	if col < 0 || recs[1][col] != "64" {
		t.Errorf("csv cold_copies column %d: %v", col, recs[1])
	}
}
