package vqgan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The operations against direct float64 loops written from their
// definitions, on odd sizes and with scratch bounds that force several
// strips / query blocks. Tolerance 1e-5·(1 + max|ref|): float32 sums of at
// most a few hundred O(1) terms.

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func testRun(threads, scratchBytes int) *run {
	return &run{threads: threads, scratchElems: max(1, scratchBytes/4), ws: &workspace{}}
}

func compare64(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	var scale, worst float64
	for i, w := range want {
		scale = max(scale, math.Abs(w))
		worst = max(worst, math.Abs(float64(got[i])-w))
	}
	if tol := 1e-5 * (1 + scale); !(worst <= tol) {
		t.Errorf("%s: max |diff| %.3g > %.3g", what, worst, tol)
	}
}

func TestConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Widths below, at and across the GEMM's 32-position panels (several
	// image rows in one panel, one row over several panels); out = 20 runs
	// the blocked GEMM path, out = 7 the small-M one.
	for _, sz := range [][4]int{{5, 7, 1, 1}, {5, 7, 5, 6}, {5, 7, 9, 2}, {3, 20, 3, 40}, {2, 20, 4, 70}, {4, 20, 5, 32}} {
		in, out, h, w := sz[0], sz[1], sz[2], sz[3]
		for _, k := range []int{1, 3} {
			c := conv{in: in, out: out, k: k, w: randSlice(rng, out*in*k*k), b: randSlice(rng, out)}
			src := randSlice(rng, in*h*w)
			want := make([]float64, out*h*w)
			p := k / 2
			for o := range out {
				for y := range h {
					for x := range w {
						s := float64(c.b[o])
						for ci := range in {
							for ky := range k {
								for kx := range k {
									sy, sx := y+ky-p, x+kx-p
									if sy >= 0 && sy < h && sx >= 0 && sx < w {
										s += float64(c.w[((o*in+ci)*k+ky)*k+kx]) * float64(src[(ci*h+sy)*w+sx])
									}
								}
							}
						}
						want[(o*h+y)*w+x] = s
					}
				}
			}
			for _, r := range []*run{testRun(1, 1<<20), testRun(3, 4), testRun(2, in*9*w*4*2)} {
				r.ws.col = make([]float32, 1<<16) // stale contents: every col element must be written
				for i := range r.ws.col {
					r.ws.col[i] = float32(math.NaN())
				}
				got := make([]float32, out*h*w)
				for i := range got {
					got[i] = float32(math.NaN()) // must be overwritten
				}
				if k == 1 {
					r.conv1x1(got, src, &c, h*w)
				} else {
					r.conv3x3(got, src, &c, h, w)
				}
				compare64(t, fmt.Sprintf("conv %d×%d on %d×%d, threads %d, scratch %d", k, k, h, w, r.threads, r.scratchElems), got, want)
			}
		}
	}
}

func TestGroupNormSwish(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const c, groups, n = 12, 3, 10
	g := groupNorm{c: c, groups: groups, eps: 1e-5, w: randSlice(rng, c), b: randSlice(rng, c)}
	src := randSlice(rng, c*n)
	for i := range src {
		src[i] = src[i]*3 + 5 // non-zero mean
	}
	for _, withSwish := range []bool{false, true} {
		want := make([]float64, c*n)
		cg := c / groups
		for gi := range groups {
			x := src[gi*cg*n : (gi+1)*cg*n]
			var mean, v float64
			for _, a := range x {
				mean += float64(a)
			}
			mean /= float64(len(x))
			for _, a := range x {
				v += (float64(a) - mean) * (float64(a) - mean)
			}
			v /= float64(len(x)) // biased
			for j := range cg {
				ch := gi*cg + j
				for i := range n {
					y := (float64(src[ch*n+i])-mean)/math.Sqrt(v+1e-5)*float64(g.w[ch]) + float64(g.b[ch])
					if withSwish {
						y = y / (1 + math.Exp(-y))
					}
					want[ch*n+i] = y
				}
			}
		}
		got := make([]float32, c*n)
		testRun(2, 0).groupNorm(got, src, &g, n, withSwish)
		compare64(t, fmt.Sprintf("groupnorm swish=%v", withSwish), got, want)
		inPlace := append([]float32(nil), src...)
		testRun(1, 0).groupNorm(inPlace, inPlace, &g, n, withSwish)
		compare64(t, "groupnorm in place", inPlace, want)
	}
}

func TestUpsample(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // (2, 2, 3)
	got := make([]float32, 48)
	testRun(2, 0).upsample2(got, src, 2, 2, 3)
	for c := range 2 {
		for y := range 4 {
			for x := range 6 {
				if w := src[(c*2+y/2)*3+x/2]; got[(c*4+y)*6+x] != w {
					t.Fatalf("upsample (%d,%d,%d) = %v, want %v", c, y, x, got[(c*4+y)*6+x], w)
				}
			}
		}
	}
}

func TestAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const c, n = 6, 11
	q, k, v := randSlice(rng, c*n), randSlice(rng, c*n), randSlice(rng, c*n)
	for i := range q {
		q[i] *= 3 // peaked softmax
	}
	want := make([]float64, c*n)
	for i := range n {
		s := make([]float64, n)
		m := math.Inf(-1)
		for j := range n {
			for ch := range c {
				s[j] += float64(q[ch*n+i]) * float64(k[ch*n+j])
			}
			s[j] /= math.Sqrt(c)
			m = max(m, s[j])
		}
		var sum float64
		for j := range s {
			s[j] = math.Exp(s[j] - m)
			sum += s[j]
		}
		for ch := range c {
			for j := range n {
				want[ch*n+i] += float64(v[ch*n+j]) * s[j] / sum
			}
		}
	}
	for _, r := range []*run{testRun(1, 1<<20), testRun(3, 4), testRun(2, 3*n*4)} {
		got := make([]float32, c*n)
		r.attention(got, q, k, v, c, n)
		compare64(t, fmt.Sprintf("attention threads %d scratch %d", r.threads, r.scratchElems), got, want)
	}
}

func TestWorkspaceReuse(t *testing.T) {
	var ws workspace
	a := ws.get(100)
	ws.put(a)
	b := ws.get(50)
	if &a[0] != &b[0] || len(b) != 50 {
		t.Error("free buffer not reused")
	}
	c := ws.get(200)
	if len(c) != 200 || &c[0] == &a[0] {
		t.Error("get returned a buffer in use or too short")
	}
}

// The workspace reuses the smallest free buffer that fits, and dropBelow
// forgets exactly the free buffers shorter than its bound.
func TestWorkspaceDropBelow(t *testing.T) {
	var ws workspace
	a, b, c := ws.get(10), ws.get(100), ws.get(1000)
	ws.put(a)
	ws.put(b)
	ws.put(c)
	if got := ws.get(50); cap(got) != 100 {
		t.Fatalf("get(50) reused a buffer of cap %d, want the smallest that fits (100)", cap(got))
	} else {
		ws.put(got)
	}
	if n := ws.dropBelow(100); n != 4*10 {
		t.Fatalf("dropBelow(100) dropped %d bytes, want 40", n)
	}
	var caps []int
	for _, f := range ws.free {
		caps = append(caps, cap(f))
	}
	slices.Sort(caps)
	if !slices.Equal(caps, []int{100, 1000}) {
		t.Fatalf("free buffers after dropBelow(100): caps %v, want [100 1000]", caps)
	}
	if n := ws.dropBelow(1 << 20); n != 4*1100 || len(ws.free) != 0 {
		t.Fatalf("dropBelow(1<<20) dropped %d bytes leaving %d buffers, want 4400 and none", n, len(ws.free))
	}
}
