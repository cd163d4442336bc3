package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/tessella-ml/tessella/attention"
)

// Tracing: a Tracer set on an Encoder, a Decoder or a Model receives the
// attention probabilities and the sampling distribution of a run. The
// attention kernels never materialise P (Online and Flash cannot), so when a
// tracer is set the traced layer's P is recomputed from the Q and K buffers
// by AttentionProbs, after the kernel ran. A nil Tracer costs one nil check
// per layer; the untraced arithmetic is unchanged.

// Probs holds attention probabilities P[b, h, i, j], row-major
// (Batch, Heads, QLen, KVLen): each (b, h, i) row sums to 1.
type Probs struct {
	Data                      []float32
	Batch, Heads, QLen, KVLen int
}

// Row returns P[b, h, i, :] (KVLen values).
func (p Probs) Row(b, h, i int) []float32 {
	off := ((b*p.Heads+h)*p.QLen + i) * p.KVLen
	return p.Data[off : off+p.KVLen]
}

// TokenProb is one token of a sampling distribution.
type TokenProb struct {
	Token int
	Prob  float32
}

// TraceTop is the number of most probable tokens StepInfo.Top keeps.
const TraceTop = 16

// StepInfo describes the distribution one image's token was drawn from at
// one decoder step, as the Sampler builds it (mixed logits m, top-k mask,
// temperature T): p_j = w_j / Σ w with w_j = exp((m_j − max m)/T)·keep_j.
type StepInfo struct {
	Image   int         // image index b in 0..n−1
	Token   int         // the sampled token
	Rank    int         // how many mixed logits are strictly larger than the sampled one's (0 = the argmax)
	Prob    float32     // p of the sampled token
	Entropy float64     // −Σ p_j·ln p_j in nats
	Kept    int         // logits that survived the top-k threshold (ties at the threshold included)
	Top     []TokenProb // the TraceTop most probable tokens, descending (ties: lower token first)
}

// Tracer receives the internals of a run. The slices are only valid during
// the call; a tracer that keeps them must copy. Calls come from the
// goroutine running the model.
type Tracer interface {
	// EncoderAttention gets layer's self-attention P, (B, H, T, T) for
	// the B text rows (row 0 unconditioned, row 1 the prompt).
	EncoderAttention(layer int, p Probs)
	// DecoderSelfAttention gets step's self-attention P in layer,
	// (2n, H, 1, step+1): the query of step i over cache slots 0..i.
	DecoderSelfAttention(step, layer int, p Probs)
	// CrossAttention gets step's cross-attention P in layer, (2n, H, 1, T):
	// rows 0..n−1 read the unconditioned text row, n..2n−1 the prompt.
	CrossAttention(step, layer int, p Probs)
	// Step gets one StepInfo per image after step's token was sampled.
	Step(step int, info []StepInfo)
}

// SetTracer sets t (nil to stop tracing) on the model, its encoder and its
// decoder; a nil Encoder or Decoder is skipped.
func (m *Model) SetTracer(t Tracer) {
	m.Tracer = t
	if m.Encoder != nil {
		m.Encoder.Tracer = t
	}
	if m.Decoder != nil {
		m.Decoder.Tracer = t
	}
}

// AttentionProbs recomputes the probabilities of an attention call,
//
//	P[b,h,i,:] = softmax_j(Scale·Σ_c Q[b,i,h,c]·K[b,j,h,c] + bias(b,h,i,j))
//
// with the bias of a.Mask (MaskBias = −1e12 per padded key, per future key
// when causal, plus Mask.Bias), as every attention kernel applies it. Scores
// are float32 like the kernels'; the softmax is taken in float64 (max
// subtracted) and rounded, so each row sums to 1 within a few float32 ulps.
// V and Out are not read. The result is (Batch, Heads, QLen, KVLen).
func AttentionProbs(a *attention.Args) (Probs, error) {
	if err := a.Validate(); err != nil {
		return Probs{}, err
	}
	p := Probs{Data: make([]float32, a.Batch*a.Heads*a.QLen*a.KVLen),
		Batch: a.Batch, Heads: a.Heads, QLen: a.QLen, KVLen: a.KVLen}
	scale := a.ScaleOrDefault()
	d := a.HeadDim
	m := &a.Mask
	for b := range a.Batch {
		for h := range a.Heads {
			for i := range a.QLen {
				q := a.Q.Data[b*a.Q.BatchStride+i*a.Q.RowStride+h*a.Q.HeadStride:][:d]
				row := p.Row(b, h, i)
				maxS := float32(math.Inf(-1))
				for j := range a.KVLen {
					k := a.K.Data[b*a.K.BatchStride+j*a.K.RowStride+h*a.K.HeadStride:][:d]
					var dot float32
					for c, qc := range q {
						dot += qc * k[c]
					}
					var bias float32 // summed in the kernels' order: padding, causal, user bias
					if m.KeyValid != nil && !m.KeyValid[b*a.KVLen+j] {
						bias += attention.MaskBias
					}
					if m.Causal && j > i+m.CausalOffset {
						bias += attention.MaskBias
					}
					if m.Bias != nil {
						bias += m.Bias[b*m.BiasBatchStride+h*m.BiasHeadStride+i*a.KVLen+j]
					}
					row[j] = dot*scale + bias
					maxS = max(maxS, row[j])
				}
				var sum float64
				e := make([]float64, len(row))
				for j, s := range row {
					e[j] = math.Exp(float64(s - maxS))
					sum += e[j]
				}
				for j := range row {
					row[j] = float32(e[j] / sum)
				}
			}
		}
	}
	return p, nil
}

// traceAttention hands the encoder layer's P to the tracer.
func (enc *Encoder) traceAttention(layer int, a *attention.Args) error {
	p, err := AttentionProbs(a)
	if err != nil {
		return fmt.Errorf("encoder layer %d trace: %w", layer, err)
	}
	enc.Tracer.EncoderAttention(layer, p)
	return nil
}

// traceSelf hands decoder step i's self-attention P of layer to the tracer.
func (dec *Decoder) traceSelf(i, layer int, a *attention.Args) error {
	p, err := AttentionProbs(a)
	if err != nil {
		return fmt.Errorf("decoder layer %d self-attention trace: %w", layer, err)
	}
	dec.Tracer.DecoderSelfAttention(i, layer, p)
	return nil
}

// traceCross recomputes step i's cross-attention P of layer for all 2n rows
// from the cross queries in s.q and the layer's cached cross keys (the same
// operands Step gives the kernel) and hands it to the tracer.
func (dec *Decoder) traceCross(s *State, i, layer int) error {
	cfg := dec.cfg
	n, E, T, D, H := s.n, cfg.Width, cfg.TextLen, cfg.HeadDim(), cfg.Heads
	all := Probs{Data: make([]float32, 2*n*H*T), Batch: 2 * n, Heads: H, QLen: 1, KVLen: T}
	for half := range 2 {
		a := attention.Args{Batch: n, Heads: H, QLen: 1, KVLen: T, HeadDim: D,
			Q:    attention.Operand{Data: s.q[half*n*E:], BatchStride: E, RowStride: E, HeadStride: D},
			K:    attention.Operand{Data: s.crossK[layer][half*T*E:][:T*E], BatchStride: 0, RowStride: E, HeadStride: D},
			V:    attention.Operand{Data: s.crossV[layer][half*T*E:][:T*E], BatchStride: 0, RowStride: E, HeadStride: D},
			Out:  attention.Operand{Data: s.a[half*n*E:], BatchStride: E, RowStride: E, HeadStride: D},
			Mask: attention.Mask{KeyValid: s.crossValid[half]}}
		p, err := AttentionProbs(&a)
		if err != nil {
			return fmt.Errorf("decoder layer %d cross-attention trace: %w", layer, err)
		}
		copy(all.Data[half*n*H*T:], p.Data)
	}
	dec.Tracer.CrossAttention(i, layer, all)
	return nil
}

// StepInfos describes the distributions Sampler.Sample drew chosen (n
// tokens) from, given the same logits (2n, rowLen), sampled width and
// options. It repeats the sampler's float32 arithmetic (mix, threshold,
// max-subtracted exp with temperature) and normalises the weights in
// float64.
func StepInfos(logits []float32, rowLen, width int, opts SampleOptions, chosen []int) ([]StepInfo, error) {
	n, W := len(chosen), width
	switch {
	case n == 0:
		return nil, fmt.Errorf("step info: no images")
	case W <= 0 || rowLen < W:
		return nil, fmt.Errorf("step info: width %d outside (0, %d]", W, rowLen)
	case len(logits) != 2*n*rowLen:
		return nil, fmt.Errorf("step info: %d logits, want 2·%d·%d", len(logits), n, rowLen)
	}
	if err := opts.Validate(W); err != nil {
		return nil, err
	}
	f := opts.Supercondition
	g := 1 - f
	m := make([]float32, W)
	sorted := make([]float32, W)
	p := make([]float64, W)
	order := make([]int, W)
	out := make([]StepInfo, n)
	for b, tok := range chosen {
		if tok < 0 || tok >= W {
			return nil, fmt.Errorf("step info: image %d: token %d outside [0, %d)", b, tok, W)
		}
		u, c := logits[b*rowLen:][:W], logits[(n+b)*rowLen:][:W]
		for j := range m {
			m[j] = float32(u[j]*g) + float32(c[j]*f) // m = uncond·(1−f) + cond·f
		}
		copy(sorted, m)
		slices.Sort(sorted)
		top, thr := sorted[W-1], sorted[0]
		if opts.TopK > 0 {
			thr = sorted[W-opts.TopK]
		}
		var sum float64
		kept := 0
		for j, v := range m {
			p[j] = 0
			if v >= thr {
				p[j] = float64(float32(math.Exp(float64((v - top) / opts.Temperature))))
				kept++
			}
			sum += p[j]
		}
		info := StepInfo{Image: b, Token: tok, Kept: kept}
		for j, v := range m {
			p[j] /= sum
			if v > m[tok] {
				info.Rank++
			}
			if p[j] > 0 {
				info.Entropy -= p[j] * math.Log(p[j])
			}
			order[j] = j
		}
		info.Prob = float32(p[tok])
		slices.SortStableFunc(order, func(x, y int) int {
			switch {
			case p[x] > p[y]:
				return -1
			case p[x] < p[y]:
				return 1
			}
			return 0
		})
		for _, j := range order[:min(TraceTop, W)] {
			info.Top = append(info.Top, TokenProb{Token: j, Prob: float32(p[j])})
		}
		out[b] = info
	}
	return out, nil
}
