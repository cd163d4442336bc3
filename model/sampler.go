package model

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// SampleOptions are min-dalle's sampling settings (spec §7).
type SampleOptions struct {
	// Temperature divides the max-subtracted logits; must be > 0 and finite
	// (min-dalle default 1).
	Temperature float32
	// TopK keeps the logits >= the k-th largest mixed logit (ties at the
	// threshold are kept, so more than k may survive). 0 keeps every
	// logit, as min-dalle's index −1 (the row minimum) does. Negative
	// values and values above the codebook size are errors (min-dalle would
	// index out of range). min-dalle default 256.
	TopK int
	// Supercondition is f in uncond·(1−f) + cond·f (min-dalle default 16);
	// |f| may not exceed MaxSupercondition.
	Supercondition float32
}

// MaxSupercondition bounds |SampleOptions.Supercondition|. The mixed logit
// uncond·(1−f) + cond·f is at most (2|f|+1)·max(|uncond|, |cond|) in
// magnitude, so with |f| ≤ 1e6 it stays finite in float32 for every logit
// below about 1.7e32 in magnitude, far beyond what a model produces (even
// binary16's whole range, 65504). A larger f could turn ordinary logits into
// ±Inf and NaN and silently sample token 0; no useful guidance needs it.
const MaxSupercondition = 1e6

// An OptionError is Validate's refusal of one option; Option names it
// ("temperature", "top_k" or "supercondition").
type OptionError struct {
	Option string
	msg    string
}

func (e *OptionError) Error() string { return "sampler: " + e.msg }

// Validate checks the options against a codebook of the given size; its
// error is an *OptionError. The options are float32, so a temperature of
// 1e308 arrives as +Inf and one of 1e-300 as 0.
func (o SampleOptions) Validate(codebook int) error {
	t := float64(o.Temperature)
	switch {
	case !(t > 0) || math.IsInf(t, 0):
		return &OptionError{"temperature", fmt.Sprintf("temperature %g must be positive and finite as a float32 (about 1.2e-38 to 3.4e38)", o.Temperature)}
	case o.TopK < 0 || o.TopK > codebook:
		return &OptionError{"top_k", fmt.Sprintf("top_k %d outside [0, %d] (0 keeps all)", o.TopK, codebook)}
	case math.IsNaN(float64(o.Supercondition)) || math.IsInf(float64(o.Supercondition), 0):
		return &OptionError{"supercondition", fmt.Sprintf("supercondition factor %g must be finite as a float32 (|f| below about 3.4e38)", o.Supercondition)}
	case math.Abs(float64(o.Supercondition)) > MaxSupercondition:
		return &OptionError{"supercondition", fmt.Sprintf("supercondition factor %g exceeds ±%g (a larger factor can overflow the mixed float32 logits)", o.Supercondition, float64(MaxSupercondition))}
	}
	return nil
}

// Noise supplies the Exp(1) draws that turn weights into a sample:
// token = argmax_j w[j]/E[j] (torch.multinomial's CPU algorithm).
type Noise interface {
	// Exponential fills dst with independent Exp(1) draws, in order.
	Exponential(dst []float32)
}

// Sampler draws one token per image from the decoder's logits. It keeps
// its scratch buffers, so Sample does not allocate; it is not safe for
// concurrent use.
type Sampler struct {
	width  int       // sampled logits per row (the codebook size)
	m      []float32 // mixed logits, then weights (n, width)
	sorted []float32 // one row, reordered by selectAsc (width)
	e      []float32 // noise (n, width)
}

// NewSampler returns a sampler over the first width logits of each row.
func NewSampler(width int) (*Sampler, error) {
	if width <= 0 {
		return nil, fmt.Errorf("sampler: width %d must be positive", width)
	}
	return &Sampler{width: width, sorted: make([]float32, width)}, nil
}

// Sample writes len(dst) = n tokens. logits is (2n, rowLen), rows 0..n−1
// unconditioned and n..2n−1 conditioned; only the first width columns are
// used. Per image row, all in float32:
//
//	m    = uncond·(1−f) + cond·f
//	keep = m >= sort_desc(m)[k−1]        (k = 0: the minimum, keeps all)
//	w    = exp((m − max m) / T) · keep
//	tok  = argmax_j w[j] / E[j],  E ~ Exp(1) drawn for all n·width at once
//
// The first maximum wins; a NaN quotient wins like torch.argmax's.
func (s *Sampler) Sample(dst []int, logits []float32, rowLen int, opts SampleOptions, noise Noise) error {
	n, W := len(dst), s.width
	if n == 0 {
		return fmt.Errorf("sampler: no images")
	}
	if rowLen < W {
		return fmt.Errorf("sampler: rows of %d logits are narrower than the %d sampled", rowLen, W)
	}
	if len(logits) != 2*n*rowLen {
		return fmt.Errorf("sampler: %d logits, want 2·%d·%d", len(logits), n, rowLen)
	}
	if noise == nil {
		return fmt.Errorf("sampler: nil noise source")
	}
	if err := opts.Validate(W); err != nil {
		return err
	}
	if cap(s.m) < n*W {
		s.m = make([]float32, n*W)
		s.e = make([]float32, n*W)
	}
	m, e := s.m[:n*W], s.e[:n*W]
	f := opts.Supercondition
	g := 1 - f
	for b := range n {
		u := logits[b*rowLen:][:W]     // unconditioned row b
		c := logits[(n+b)*rowLen:][:W] // conditioned row b
		mb := m[b*W:][:W]
		for j := range mb {
			// The conversions round each product, preventing an FMA, as
			// torch computes the two products and the sum separately.
			mb[j] = float32(u[j]*g) + float32(c[j]*f)
		}
		// In ascending order (slices.Sort's, NaN first) the maximum is at
		// W−1 and the k-th largest at W−k; selection finds them without a
		// full sort.
		copy(s.sorted, mb)
		top := maxOrdered(s.sorted)
		idx := 0 // k = 0: the minimum
		if opts.TopK > 0 {
			idx = W - opts.TopK
		}
		thr := selectAsc(s.sorted, idx)
		for j, v := range mb {
			var w float32 // below the top-k threshold (or NaN): weight 0, no exp needed
			if v >= thr {
				w = float32(math.Exp(float64((v - top) / opts.Temperature)))
			}
			mb[j] = w
		}
	}
	noise.Exponential(e)
	for b := range n {
		w, eb := m[b*W:][:W], e[b*W:][:W]
		best, bestV := 0, float32(math.Inf(-1))
		for j := range w {
			q := w[j] / eb[j]
			if q != q { // NaN: torch.argmax treats it as the maximum
				best = j
				break
			}
			if q > bestV {
				best, bestV = j, q
			}
		}
		dst[b] = best
	}
	return nil
}

// maxOrdered returns the last element of a in slices.Sort's ascending order
// (cmp.Less: NaN below every number), i.e. the largest number, or NaN if all
// are NaN. len(a) > 0.
func maxOrdered(a []float32) float32 {
	m := a[0]
	for _, v := range a[1:] {
		if cmp.Less(m, v) {
			m = v
		}
	}
	return m
}

// selectAsc returns the element that slices.Sort(a) would put at index idx
// (equal under cmp.Compare; +0 and −0 are not told apart), reordering a. It
// is a three-way-partition quickselect with a median-of-three pivot, O(len)
// on average; after 2·log₂(len)+8 rounds it sorts what is left instead.
// 0 ≤ idx < len(a).
func selectAsc(a []float32, idx int) float32 {
	lo, hi := 0, len(a)
	budget := 8
	for n := len(a); n > 0; n >>= 1 {
		budget += 2
	}
	for hi-lo > 16 && budget > 0 {
		budget--
		p := median3(a[lo], a[lo+(hi-lo)/2], a[hi-1])
		// [lo, lt) < p, [lt, i) == p, (gt, hi) > p.
		lt, i, gt := lo, lo, hi-1
		for i <= gt {
			switch c := cmp.Compare(a[i], p); {
			case c < 0:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case c > 0:
				a[i], a[gt] = a[gt], a[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case idx < lt:
			hi = lt
		case idx > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	slices.Sort(a[lo:hi])
	return a[idx]
}

// median3 returns the median of three values under cmp.Compare.
func median3(x, y, z float32) float32 {
	if cmp.Less(y, x) {
		x, y = y, x
	}
	if cmp.Less(z, y) {
		y = z
		if cmp.Less(y, x) {
			y = x
		}
	}
	return y
}
