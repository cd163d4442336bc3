package weights

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// ParseDType reads a precision as users write it (case-insensitive):
// f32|fp32|float32, f16|fp16|float16|half, bf16|bfloat16, q8|int8.
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "f32", "fp32", "float32":
		return F32, nil
	case "f16", "fp16", "float16", "half":
		return F16, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "q8", "int8", "q8_0":
		return Q8, nil
	}
	return "", fmt.Errorf("unknown precision %q (want f32, f16, bf16 or q8)", s)
}

// ConvertOptions tune ConvertFile and NewCast.
type ConvertOptions struct {
	// Quantize decides which floating-point tensors DType Q8 quantises;
	// nil means DefaultQuantize.
	Quantize func(name string, shape []int) bool
	// Float is the type Q8 gives the floating-point tensors it does not
	// quantise: "" keeps each one's type (F64 becomes F32), or F32, F16
	// or BF16. Other dtypes ignore it.
	Float DType
	// Metadata is merged into the output's metadata, overriding the
	// input's entries (ConvertFile only).
	Metadata map[string]string
}

// DefaultQuantize quantises the 2-D tensors whose rows hold at least one
// whole group (K ≥ 32): in a min-dalle checkpoint the Linear weights, the
// token and position embeddings, lm_head and the VQGAN codebook. 1-D
// tensors (LayerNorm, GroupNorm, biases) and 4-D convolution kernels stay
// floating point.
func DefaultQuantize(name string, shape []int) bool {
	return len(shape) == 2 && shape[1] >= Q8Group
}

// isFloat reports whether a tensor holds floating-point values (a q8 pair
// counts: it reads as float32).
func isFloat(t *Tensor) bool {
	switch t.DType {
	case F32, F16, BF16, F64:
		return true
	}
	return t.q8 != nil
}

// isLinkedScale reports whether name is the scale half of a q8 pair in f.
func isLinkedScale(f *File, name string) bool {
	base, ok := strings.CutSuffix(name, Q8ScaleSuffix)
	if !ok {
		return false
	}
	t, ok := f.byName[base]
	return ok && t.q8 != nil
}

// target returns the dtype a tensor gets when converting to dt: F32, F16,
// BF16 or Q8, or "" for a tensor copied unchanged (integers, BOOL, and
// floating-point tensors already of the target type).
func target(t *Tensor, dt DType, opts *ConvertOptions) DType {
	if !isFloat(t) {
		return ""
	}
	out := dt
	if dt == Q8 {
		quant := opts.Quantize
		if quant == nil {
			quant = DefaultQuantize
		}
		if !quant(t.Name, t.Shape) || len(t.Shape) == 0 {
			out = opts.Float
			if out == "" {
				switch {
				case t.q8 != nil, t.DType == F64:
					out = F32
				default:
					out = t.DType
				}
			}
		}
	}
	if out == t.DType && t.q8 == nil {
		return "" // already there: copy the bytes
	}
	return out
}

func checkTarget(dt DType, opts *ConvertOptions) error {
	switch dt {
	case F32, F16, BF16, Q8:
	default:
		return fmt.Errorf("cannot convert to %q (want F32, F16, BF16 or Q8)", dt)
	}
	switch opts.Float {
	case "", F32, F16, BF16:
	default:
		return fmt.Errorf("ConvertOptions.Float %q must be F32, F16, BF16 or empty", opts.Float)
	}
	return nil
}

// outTensor is one tensor of the output: its header entry and how to make
// its bytes.
type outTensor struct {
	name  string
	dtype DType
	shape []int
	size  int // bytes
	bytes func() ([]byte, error)
}

// planConvert lists the output tensors of f converted to dt. Q8 tensors
// become two entries whose bytes are computed once, on first use.
func planConvert(f *File, dt DType, opts *ConvertOptions) ([]outTensor, bool, error) {
	var out []outTensor
	quantised := false
	for _, name := range f.names {
		if isLinkedScale(f, name) {
			continue // rebuilt with its tensor
		}
		t := f.byName[name]
		to := target(t, dt, opts)
		switch to {
		case "":
			out = append(out, outTensor{name, t.DType, t.Shape, t.numel * t.DType.Size(),
				t.bytes})
		case F32, F16, BF16:
			out = append(out, outTensor{name, to, t.Shape, t.numel * to.Size(), func() ([]byte, error) {
				v, err := t.Float32()
				if err != nil {
					return nil, err
				}
				b, err := encodeFloat32(v, to)
				if err != nil {
					return nil, fmt.Errorf("weights: %s: tensor %q: %w", f.path, name, err)
				}
				return b, nil
			}})
		case Q8:
			quantised = true
			// Each half quantises the tensor again (deterministically), so
			// that no code or scale outlives the write of its own bytes.
			quantise := func() ([]int8, []uint16, error) {
				v, err := t.Float32()
				if err != nil {
					return nil, nil, err
				}
				q, sc, err := QuantizeQ8(v, t.Shape)
				if err != nil {
					return nil, nil, fmt.Errorf("weights: %s: tensor %q: %w", f.path, name, err)
				}
				return q, sc, nil
			}
			k := t.Shape[len(t.Shape)-1]
			sshape := append([]int(nil), t.Shape...)
			sshape[len(sshape)-1] = (k + Q8Group - 1) / Q8Group
			sn, _ := checkShape(sshape)
			out = append(out,
				outTensor{name, I8, t.Shape, t.numel, func() ([]byte, error) {
					q, _, err := quantise()
					return int8Bytes(q), err
				}},
				outTensor{name + Q8ScaleSuffix, F16, sshape, 2 * sn, func() ([]byte, error) {
					_, sc, err := quantise()
					if err != nil {
						return nil, err
					}
					b := make([]byte, 2*len(sc))
					for i, h := range sc {
						binary.LittleEndian.PutUint16(b[2*i:], h)
					}
					return b, nil
				}})
		}
	}
	seen := make(map[string]bool, len(out))
	for _, t := range out {
		if seen[t.name] {
			return nil, false, formatErr(f.path, t.name, "the converted file would hold this name twice (a q8 scale tensor clashes with an existing tensor)")
		}
		seen[t.name] = true
	}
	return out, quantised, nil
}

// int8Bytes views int8s as bytes.
func int8Bytes(q []int8) []byte {
	if len(q) == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(q))), len(q))
}

// ConvertFile reads the weights file in (.pt or safetensors, any dtype the
// package reads, q8 included) and writes its tensors to out as safetensors
// in precision dt: F32, F16 or BF16 for every floating-point tensor, or
// Q8 for the tensors opts.Quantize selects (DefaultQuantize: 2-D, K ≥ 32),
// the other floating-point tensors keeping their type (or opts.Float).
// Integer and BOOL tensors are copied unchanged, and so are the bytes of a
// tensor already of its target type. The input's metadata is kept, with
// "tessella.dtype" (f32, f16, bf16 or q8), "tessella.source" (in's base
// name) and, for q8, "tessella.q8_group" set, then opts.Metadata merged.
//
// The output is deterministic and in WriteSafetensors' layout (its bytes
// equal what WriteSafetensors would write for the same tensors); it is
// written one tensor at a time (memory: about two copies of the largest
// tensor) to a temporary file in out's directory, synced and renamed over
// out, the way WriteSafetensors writes (a symbolic link at out is
// followed and kept, the replaced file's permission bits are kept). ctx
// is checked between tensors. An error of the input (reading it, a
// tensor that cannot be converted, a name the output cannot hold) reads
// "weights: IN: …", one of the write, ctx's included, "weights: OUT: …".
func ConvertFile(ctx context.Context, in, out string, dt DType, opts ConvertOptions) error {
	c, err := prepareConvert(in, dt, &opts)
	if err != nil {
		return err
	}
	defer c.f.Close()
	err = writeAtomic(out, func(w io.Writer) error { return c.writeTo(ctx, w) })
	var se *sourceError
	if errors.As(err, &se) {
		return se.err // already "weights: IN: …"
	}
	return err
}

// ConvertTo writes to w the bytes ConvertFile would write to a file: the
// conversion of the weights file in to precision dt, as safetensors (see
// ConvertFile). It writes the 8-byte length and the header, then one
// tensor at a time; w is not buffered or synced here. ctx is checked
// between tensors. Every error names the input ("weights: IN: …"), those
// of w and ctx included; on an error w may have received part of the
// output.
func ConvertTo(ctx context.Context, in string, w io.Writer, dt DType, opts ConvertOptions) error {
	c, err := prepareConvert(in, dt, &opts)
	if err != nil {
		return err
	}
	defer c.f.Close()
	if err := c.writeTo(ctx, w); err != nil {
		var se *sourceError
		if errors.As(err, &se) {
			return se.err
		}
		return fmt.Errorf("weights: %s: %w", in, err)
	}
	return nil
}

// conversion is a conversion prepared once, written by ConvertFile or
// ConvertTo: the opened input, its output tensors in file order and the
// header.
type conversion struct {
	in     string
	f      *File
	plan   []outTensor
	header []byte
}

// sourceError marks an error of the input (reading or converting a
// tensor), already prefixed "weights: IN: ", among the errors of
// conversion.writeTo, whose others (ctx, the writer) carry no prefix.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// prepareConvert opens in and plans its conversion to dt: the output
// tensors sorted into the order and header form of EncodeSafetensors.
// Errors carry the prefix "weights: IN: ". The caller closes c.f.
func prepareConvert(in string, dt DType, opts *ConvertOptions) (*conversion, error) {
	if err := checkTarget(dt, opts); err != nil {
		return nil, fmt.Errorf("weights: %s: %w", in, err)
	}
	f, err := Open(in)
	if err != nil {
		return nil, err
	}
	plan, quantised, err := planConvert(f, dt, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	meta := f.Metadata()
	delete(meta, q8MetaGroup)
	meta["tessella.dtype"] = strings.ToLower(string(dt))
	meta["tessella.source"] = filepath.Base(in)
	if quantised {
		meta[q8MetaGroup] = strconv.Itoa(Q8Group)
	}
	for k, v := range opts.Metadata {
		meta[k] = v
	}
	sort.SliceStable(plan, func(i, j int) bool {
		si, sj := plan[i].dtype.Size(), plan[j].dtype.Size()
		if si != sj {
			return si > sj
		}
		return plan[i].name < plan[j].name
	})
	h, err := safetensorsHeader(plan, meta)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("weights: %s: %w", in, err)
	}
	return &conversion{in: in, f: f, plan: plan, header: h}, nil
}

// writeTo writes the converted file to w. An error of the input is a
// *sourceError; one of ctx or of w is returned as it is.
func (c *conversion) writeTo(ctx context.Context, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(c.header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(c.header); err != nil {
		return err
	}
	for _, t := range c.plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := t.bytes()
		if err != nil {
			return &sourceError{err}
		}
		if len(b) != t.size {
			return &sourceError{fmt.Errorf("weights: %s: tensor %q: %d bytes, want %d", c.in, t.name, len(b), t.size)}
		}
		if _, err = w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// safetensorsHeader is the padded JSON header for tensors already in
// file order, in EncodeSafetensors' byte form.
func safetensorsHeader(plan []outTensor, meta map[string]string) ([]byte, error) {
	h := []byte{'{'}
	off := 0
	for i, t := range plan {
		if t.name == "" || t.name == "__metadata__" || !utf8.ValidString(t.name) {
			return nil, fmt.Errorf("tensor %q: invalid name", t.name)
		}
		if i > 0 && plan[i-1].name == t.name {
			return nil, fmt.Errorf("tensor %q: duplicate name", t.name)
		}
		if i > 0 {
			h = append(h, ',')
		}
		h = appendJSONString(h, t.name)
		h = append(h, `:{"dtype":`...)
		h = appendJSONString(h, string(t.dtype))
		h = append(h, `,"shape":[`...)
		for j, d := range t.shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendInt(h, int64(off), 10)
		off += t.size
		h = append(h, ',')
		h = strconv.AppendInt(h, int64(off), 10)
		h = append(h, "]}"...)
	}
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k, v := range meta {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("metadata %q: not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(plan) > 0 {
			h = append(h, ',')
		}
		h = append(h, `"__metadata__":{`...)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendJSONString(h, k)
			h = append(h, ':')
			h = appendJSONString(h, meta[k])
		}
		h = append(h, '}')
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	return h, nil
}

// Cast is a File seen at another precision without writing a file: its
// Float32 returns exactly what ConvertFile with the same dtype and options
// would store, read back (F16/BF16 rounding, or Q8 quantisation then
// dequantisation). It implements model.Source and model.TensorLister, so a
// model can load "--dtype q8" weights straight from an fp32 or fp16 file.
// The model then holds float32 copies: Cast measures and reproduces the
// precision's effect on quality, it does not save memory.
type Cast struct {
	f    *File
	dt   DType
	opts ConvertOptions
}

// NewCast views f at precision dt (F32, F16, BF16 or Q8). A nil f is an
// error.
func NewCast(f *File, dt DType, opts ConvertOptions) (*Cast, error) {
	if f == nil {
		return nil, errors.New("weights: NewCast: nil File")
	}
	if err := checkTarget(dt, &opts); err != nil {
		return nil, fmt.Errorf("weights: %s: %w", f.path, err)
	}
	return &Cast{f: f, dt: dt, opts: opts}, nil
}

// Has reports whether the file holds the tensor.
func (c *Cast) Has(name string) bool { return c.f.Has(name) }

// Release passes the hint on to the file (see File.Release).
func (c *Cast) Release(name string) { c.f.Release(name) }

// Names lists the file's tensors.
func (c *Cast) Names() []string { return c.f.Names() }

// Shape returns a tensor's shape.
func (c *Cast) Shape(name string) ([]int, bool) { return c.f.Shape(name) }

// Float32 returns the tensor as it would read after conversion; the slice
// is never a view of the file when the values change.
func (c *Cast) Float32(name string) ([]float32, []int, error) {
	v, shape, err := c.f.Float32(name)
	if err != nil {
		return nil, nil, err
	}
	t := c.f.byName[name]
	switch target(t, c.dt, &c.opts) {
	case F16:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = f16ToF32(f32ToF16(x))
		}
		return out, shape, nil
	case BF16:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = bf16ToF32(f32ToBF16(x))
		}
		return out, shape, nil
	case Q8:
		q, sc, err := QuantizeQ8(v, shape)
		if err != nil {
			return nil, nil, fmt.Errorf("weights: %s: tensor %q: %w", c.f.path, name, err)
		}
		d := make([]float32, len(sc))
		for i, h := range sc {
			d[i] = f16ToF32(h)
		}
		out := make([]float32, len(v))
		dequantizeQ8(out, int8Bytes(q), d, shape[len(shape)-1], Q8Group)
		return out, shape, nil
	}
	return v, shape, nil
}
