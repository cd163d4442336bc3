package model

import (
	"runtime"

	"github.com/tessella-ml/tessella/internal/load"
	"github.com/tessella-ml/tessella/internal/matmul"
	"github.com/tessella-ml/tessella/internal/vec"
)

// loader reads named tensors from a Source, checking every shape. It keeps
// the first error (load.Reader, Part "encoder" or "decoder"); later calls
// are no-ops returning nil, so a constructor can read everything and check
// loader.Err once.
type loader struct {
	load.Reader
	dtype matmul.DType   // precision of the Linear weights (dtype.go)
	eng   *matmul.Engine // the engine (tier, threads) every Linear runs on
	// dropped counts the bytes of weights packed since the last collection
	// (see release).
	dropped int
}

// optional returns the tensor name of shape (width), or a fresh vector
// filled with def when the source lacks it (spec §3: min-dalle loads with
// strict=False, so a missing LayerNorm weight is 1 and a missing bias 0).
func (ld *loader) optional(name string, width int, def float32) []float32 {
	if ld.Err != nil {
		return nil
	}
	if !ld.Src.Has(name) {
		v := make([]float32, width)
		for i := range v {
			v[i] = def
		}
		return v
	}
	return ld.Tensor(name, width)
}

// layerNorm reads prefix.weight (default 1) and prefix.bias (default 0).
func (ld *loader) layerNorm(prefix string, width int, eps float32) layerNorm {
	return layerNorm{
		w:   ld.optional(prefix+".weight", width, 1),
		b:   ld.optional(prefix+".bias", width, 0),
		eps: eps,
	}
}

// linear reads the nn.Linear weight name of shape (out, in).
func (ld *loader) linear(name string, out, in int) *matmul.Linear {
	w := ld.Tensor(name, out, in)
	if w == nil {
		return nil
	}
	lin := ld.eng.NewLinearDType(ld.dtype, w, out, in)
	if !lin.KeepsSource() {
		ld.release(name, len(w))
	}
	return lin
}

// fused reads the nn.Linear weights names, each of shape (out, in), and
// returns one Linear (len(names)·out, in) holding their rows one after the
// other.
func (ld *loader) fused(out, in int, names ...string) *matmul.Linear {
	w := make([]float32, len(names)*out*in)
	for i, name := range names {
		part := ld.Tensor(name, out, in)
		if part == nil {
			return nil
		}
		copy(w[i*out*in:], part)
		ld.release(name, len(part))
	}
	lin := ld.eng.NewLinearDType(ld.dtype, w, len(names)*out, in)
	if !lin.KeepsSource() {
		ld.dropped += 4 * len(w) // w itself is garbage now
	}
	return lin
}

// release tells the source that the weight name (n values) was copied into
// a packed Linear: a Releaser (a mapped file) drops its pages. A source that
// made a fresh slice for it (random weights, a dtype conversion) leaves that
// much garbage on the heap; a collection after every 64 MiB of it keeps the
// load's peak near the model's own size instead of up to twice it (Go's
// default GOGC lets the heap double before collecting; the weights hold no
// pointers, so a collection does not scan them). Measured on Mini fp32 in
// memory: load peak (VmHWM) 2198 → 1920 MiB, load time unchanged (5.3 vs 5.1 s).
func (ld *loader) release(name string, n int) {
	if r, ok := ld.Src.(Releaser); ok {
		r.Release(name)
	}
	ld.dropped += 4 * n
	if ld.dropped >= 64<<20 {
		runtime.GC()
		ld.dropped = 0
	}
}

// layerNorm is nn.LayerNorm(width): per row, (x − mean)/√(var + ε)·w + b
// with the biased variance.
type layerNorm struct {
	w, b []float32 // (width)
	eps  float32
}

// forward normalises each of the len(x)/width rows of x into y (y may be x).
// Mean and variance are accumulated in float64 (internal/vec's MeanInvStd:
// AVX-512 when available, in 8 lanes).
func (ln *layerNorm) forward(y, x []float32) {
	width := len(ln.w)
	for r := 0; r+width <= len(x); r += width {
		xr, yr := x[r:r+width], y[r:r+width]
		mean, inv := vec.MeanInvStd(xr, ln.eps)
		normAffine(yr, xr, ln.w, ln.b, mean, inv) // yr = float32((xr − mean)·inv)·w + b
	}
}

// attnWeights are the four bias-free projections of min-dalle's
// AttentionBase, each (E, E). A self-attention holds q, k and v as one
// Linear qkv (3E, E), rows [Wq; Wk; Wv]: one product computes all three —
// on the SIMD tiers bit for bit the separate products, since each output is
// the same dot product over the same row in the same order
// (TestFusedLinearsExact) — and a decode step starts one parallel GEMV
// instead of three. Cross-attention keeps them apart (k and v read the
// encoder state once per image, q the decoder state at every step).
type attnWeights struct {
	qkv        *matmul.Linear // self-attention: (3E, E) = [Wq; Wk; Wv]
	q, k, v, o *matmul.Linear // (E, E); q, k, v are nil when qkv is set
}

// selfAttn loads a self-attention's projections, q, k and v fused.
func (ld *loader) selfAttn(prefix string, e int) attnWeights {
	return attnWeights{
		qkv: ld.fused(e, e, prefix+".q_proj.weight", prefix+".k_proj.weight", prefix+".v_proj.weight"),
		o:   ld.linear(prefix+".out_proj.weight", e, e),
	}
}

// crossAttn loads an encoder-decoder attention's four projections.
func (ld *loader) crossAttn(prefix string, e int) attnWeights {
	return attnWeights{
		q: ld.linear(prefix+".q_proj.weight", e, e),
		k: ld.linear(prefix+".k_proj.weight", e, e),
		v: ld.linear(prefix+".v_proj.weight", e, e),
		o: ld.linear(prefix+".out_proj.weight", e, e),
	}
}

// gluWeights is min-dalle's GLU block. fc0 and fc1 (each (G, E)) are held
// as one Linear fc01 (2G, E), rows [fc0; fc1], like attnWeights.qkv.
type gluWeights struct {
	ln0  layerNorm      // (E)
	ln1  layerNorm      // (G)
	fc01 *matmul.Linear // (2G, E) = [fc0.weight; fc1.weight]
	fc2  *matmul.Linear // (E, G)
}

func (ld *loader) glu(prefix string, e, g int, eps float32) gluWeights {
	return gluWeights{
		ln0:  ld.layerNorm(prefix+".ln0", e, eps),
		ln1:  ld.layerNorm(prefix+".ln1", g, eps),
		fc01: ld.fused(g, e, prefix+".fc0.weight", prefix+".fc1.weight"),
		fc2:  ld.linear(prefix+".fc2.weight", e, g),
	}
}

// gluBuffers are the scratch rows of one GLU call over m rows.
type gluBuffers struct {
	z  []float32 // (m, E)
	wv []float32 // (m, 2G)
	w  []float32 // (m, G)
}

func newGLUBuffers(m, e, g int) gluBuffers {
	return gluBuffers{z: make([]float32, m*e), wv: make([]float32, m*2*g), w: make([]float32, m*g)}
}

// addGLU computes x += GLU(x) for the m rows of x (m, E):
//
//	z = ln0(x); w = GELU(z·fc0ᵀ); v = z·fc1ᵀ; x += ln1(w ⊙ v)·fc2ᵀ
func (p *gluWeights) addGLU(x []float32, m int, b *gluBuffers) {
	e, g := p.fc01.K, p.fc01.N/2
	z, wv, w := b.z[:m*e], b.wv[:m*2*g], b.w[:m*g]
	p.ln0.forward(z, x[:m*e]) // z (m, E)
	p.fc01.Forward(wv, z, m)  // wv (m, 2G): row r = [z_r·fc0ᵀ | z_r·fc1ᵀ]
	for r := range m {
		wr, vr := wv[r*2*g:][:g], wv[r*2*g+g:][:g]
		vec.GELUMul(wr, vr)            // wr = GELU(wr) ⊙ vr     (G)
		p.ln1.forward(w[r*g:][:g], wr) // w_r = ln1(wr)          (G)
	}
	p.fc2.Forward(z, w, m) // z = w·fc2ᵀ           (m, E)
	for i := range z {
		x[i] += z[i]
	}
}
