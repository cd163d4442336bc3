package weights

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// Q8 stores a weight matrix group-wise in int8, like ggml's Q8_0. In a
// safetensors file a quantised tensor W of shape [..., K] is two tensors:
//
//	W              I8,  shape [..., K]           q, the int8 codes, row-major
//	W.q8_scale     F16, shape [..., ⌈K/G⌉]       d, one scale per group
//
// A group is G = 32 consecutive values along the last (input, K) axis of one
// row; when G does not divide K the row's last group is shorter (K mod G
// values) and has its own scale. Groups never span rows. For a group x:
//
//	d = max|x| / 127 rounded up to binary16   (the smallest fp16 d with 127·d ≥ max|x|)
//	q = round(x / d)            (half away from zero; |q| ≤ 127; q = 0 when d = 0)
//	x̂ = q · d                   (what readers see)
//
// q is computed against the stored scale, and rounding the scale up keeps
// |x/d| ≤ 127, so x̂ is always within d/2 of x: d ≈ max|x|/127 (relative
// error ≤ 2⁻¹⁰) while d ≥ 2⁻¹⁴, i.e. max|x| ≳ 0.0078; smaller groups get a
// binary16 subnormal scale, at least 2⁻²⁴ ≈ 6·10⁻⁸ (absolute error ≤ 3·10⁻⁸).
// An all-zero group has d = 0. The code −128 is never written (readers
// accept it). A reader may also meet
// F32 scales; G is 32 unless the file's metadata says otherwise under
// "tessella.q8_group". Tensor.Float32 and File.Float32 dequantise such a
// pair transparently (W reads as float32 of its own shape); File.Q8 gives
// the raw codes and scales to a fused kernel. The scale tensor stays
// visible in Names.
const Q8 DType = "Q8"

// Q8Group is the number of values sharing one scale.
const Q8Group = 32

// Q8ScaleSuffix is appended to a quantised tensor's name to name its scales.
const Q8ScaleSuffix = ".q8_scale"

// q8MetaGroup is the metadata key that records the group size.
const q8MetaGroup = "tessella.q8_group"

// q8Info links a quantised I8 tensor to its scales.
type q8Info struct {
	scale *Tensor
	group int
}

// linkQ8 finds every NAME.q8_scale tensor of a safetensors file and attaches
// it to NAME, checking that NAME is I8 of rank ≥ 1 and that the shapes
// agree. A file without such tensors is untouched.
func (f *File) linkQ8() error {
	group := Q8Group
	if s, ok := f.meta[q8MetaGroup]; ok {
		g, err := strconv.Atoi(s)
		if err != nil || g < 1 || g > 1<<20 {
			return formatErr(f.path, "", "metadata %s = %q is not a group size in [1, 2^20]", q8MetaGroup, s)
		}
		group = g
	}
	for _, name := range f.names {
		base, ok := strings.CutSuffix(name, Q8ScaleSuffix)
		if !ok {
			continue
		}
		sc := f.byName[name]
		w, ok := f.byName[base]
		if !ok {
			return formatErr(f.path, name, "q8 scales for a tensor %q the file does not hold", base)
		}
		if w.DType != I8 {
			return formatErr(f.path, base, "has q8 scales but dtype %s (want I8)", w.DType)
		}
		if sc.DType != F16 && sc.DType != F32 {
			return formatErr(f.path, name, "q8 scales must be F16 or F32, not %s", sc.DType)
		}
		if len(w.Shape) == 0 {
			return formatErr(f.path, base, "a 0-d tensor cannot be q8")
		}
		want := append([]int(nil), w.Shape...)
		k := want[len(want)-1]
		want[len(want)-1] = (k + group - 1) / group
		if !equalInts(sc.Shape, want) {
			return formatErr(f.path, name, "q8 scales have shape %v; %v in groups of %d needs %v", sc.Shape, w.Shape, group, want)
		}
		w.q8 = &q8Info{scale: sc, group: group}
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// IsQ8 reports whether the tensor is the int8 half of a q8 pair (its
// Float32 dequantises).
func (t *Tensor) IsQ8() bool { return t.q8 != nil }

// dequantQ8 returns x̂ = q·d for every element (Float32 has checked that
// the File is open).
func (t *Tensor) dequantQ8() ([]float32, error) {
	q := t.raw()
	d, err := t.q8.scale.Float32()
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.numel)
	dequantizeQ8(out, q, d, t.Shape[len(t.Shape)-1], t.q8.group)
	return out, nil
}

// dequantizeQ8 writes x̂ = q·d for rows of k values in groups of g (the
// shapes were checked when the file was opened).
func dequantizeQ8(dst []float32, q []byte, d []float32, k, g int) {
	if k == 0 {
		return
	}
	ng := (k + g - 1) / g
	for r := 0; r < len(dst)/k; r++ {
		row, qrow, drow := dst[r*k:(r+1)*k], q[r*k:(r+1)*k], d[r*ng:(r+1)*ng]
		for j := range row {
			row[j] = float32(int8(qrow[j])) * drow[j/g]
		}
	}
}

// Q8 returns a q8 tensor's raw parts: the int8 codes (a view of the
// file's bytes, valid until Close), the scales as float32 (one per group,
// row-major over shape[:-1] × ⌈K/group⌉), the group size and the shape.
// ok is false when the name is missing or not a q8 tensor.
func (f *File) Q8(name string) (q []int8, scales []float32, group int, shape []int, ok bool) {
	t, found := f.byName[name] // empty after Close
	if !found || t.q8 == nil {
		return nil, nil, 0, nil, false
	}
	scales, err := t.q8.scale.Float32()
	if err != nil {
		return nil, nil, 0, nil, false
	}
	b := t.raw()
	if len(b) > 0 {
		q = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	} else {
		q = []int8{}
	}
	return q, scales, t.q8.group, append([]int(nil), t.Shape...), true
}

// QuantizeQ8 quantises row-major data of the given shape (rank ≥ 1, last
// axis K) in groups of Q8Group: it returns the int8 codes and the binary16
// bit patterns of the scales, shape [..., ⌈K/32⌉] (see Q8 for the
// formulas). It fails on NaN or ±Inf and on values whose scale overflows
// binary16 (|x| > 65504·127 ≈ 8.3·10⁶).
func QuantizeQ8(data []float32, shape []int) (q []int8, scales []uint16, err error) {
	if len(shape) == 0 {
		return nil, nil, fmt.Errorf("q8: a 0-d tensor cannot be quantised")
	}
	n, err := checkShape(shape)
	if err != nil {
		return nil, nil, fmt.Errorf("q8: %v", err)
	}
	if n != len(data) {
		return nil, nil, fmt.Errorf("q8: shape %v needs %d values, got %d", shape, n, len(data))
	}
	k := shape[len(shape)-1]
	q = make([]int8, n)
	if k == 0 {
		return q, []uint16{}, nil
	}
	ng := (k + Q8Group - 1) / Q8Group
	scales = make([]uint16, n/k*ng)
	for r := 0; r < n/k; r++ {
		row := data[r*k : (r+1)*k]
		for g := 0; g < ng; g++ {
			lo, hi := g*Q8Group, min((g+1)*Q8Group, k)
			var amax float32
			for c, x := range row[lo:hi] {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, nil, fmt.Errorf("q8: value %v at row %d, column %d is not finite", x, r, lo+c)
				}
				amax = max(amax, float32(math.Abs(float64(x))))
			}
			// The smallest binary16 d with 127·d ≥ max|x|, so |x/d| ≤ 127.
			h := f32ToF16(amax / 127)
			if float64(f16ToF32(h))*127 < float64(amax) {
				h++ // the next binary16 up (positive patterns are ordered)
			}
			d := f16ToF32(h)
			if math.IsInf(float64(d), 0) {
				return nil, nil, fmt.Errorf("q8: |x| = %g at row %d overflows a binary16 scale", amax, r)
			}
			scales[r*ng+g] = h
			if d == 0 {
				continue // q stays 0
			}
			for j := lo; j < hi; j++ {
				v := math.Round(float64(row[j]) / float64(d))
				v = max(-127, min(127, v))
				q[r*k+j] = int8(v)
			}
		}
	}
	return q, scales, nil
}
