package weights

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"unicode/utf8"

	"github.com/tessella-ml/tessella/internal/atomicfile"
)

// NamedTensor is one tensor to write. Give either Raw (little-endian
// bytes of DType, row-major) or Data (float32 values, stored as DType,
// which must then be F32, F16 or BF16; F16 and BF16 round to nearest,
// ties to even). An empty DType with Data means F32.
type NamedTensor struct {
	Name  string
	DType DType
	Shape []int
	Raw   []byte
	Data  []float32
}

// dtype is the stored element type (F32 for Data without a DType).
func (t *NamedTensor) dtype() DType {
	if t.DType == "" && t.Data != nil {
		return F32
	}
	return t.DType
}

// WriteSafetensors writes the tensors and metadata to path as a
// safetensors file, atomically: it writes a temporary file in the same
// directory, syncs it and renames it over path. If path is a symbolic link
// its target is replaced (the temporary file goes next to the target) and
// the link is kept; an existing file's permission bits are kept (a new
// file gets 0644); a path that exists but is not a regular file is refused.
// On any error path is left as it was. The output is
// deterministic (independent of the order of tensors and of map order):
// tensors sorted by element size, largest first, then by name, and packed
// in that order, so each starts at a multiple of its element size; the
// header JSON is compact, in that order, with metadata keys sorted, in the
// byte form of Python's json.dumps(separators=(",", ":")), and padded with
// spaces to a multiple of 8 bytes, so the data section starts 8-byte
// aligned and an F32 tensor can be read without a copy.
func WriteSafetensors(path string, tensors []NamedTensor, metadata map[string]string) error {
	blob, err := EncodeSafetensors(tensors, metadata)
	if err != nil {
		return fmt.Errorf("weights: %s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(blob)
		return err
	})
}

// EncodeSafetensors returns the bytes WriteSafetensors would write.
func EncodeSafetensors(tensors []NamedTensor, metadata map[string]string) ([]byte, error) {
	ts := append([]NamedTensor(nil), tensors...)
	// Larger elements first, so that every tensor starts at a multiple of
	// its element size (the data section starts 8-byte aligned), then by
	// name. (Python's training/st.py sorts by name only.)
	sort.SliceStable(ts, func(i, j int) bool {
		si, sj := ts[i].dtype().Size(), ts[j].dtype().Size()
		if si != sj {
			return si > sj
		}
		return ts[i].Name < ts[j].Name
	})
	raws := make([][]byte, len(ts))
	dts := make([]DType, len(ts))
	for i, t := range ts {
		if t.Name == "" || t.Name == "__metadata__" || !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("tensor %q: invalid name", t.Name)
		}
		if i > 0 && ts[i-1].Name == t.Name {
			return nil, fmt.Errorf("tensor %q: duplicate name", t.Name)
		}
		numel, err := checkShape(t.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
		}
		dt := t.dtype()
		switch {
		case t.Raw != nil && t.Data != nil:
			return nil, fmt.Errorf("tensor %q: both Raw and Data given", t.Name)
		case t.Data != nil:
			if len(t.Data) != numel {
				return nil, fmt.Errorf("tensor %q: shape %v needs %d values, Data has %d", t.Name, t.Shape, numel, len(t.Data))
			}
			raw, err := encodeFloat32(t.Data, dt)
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
			}
			raws[i] = raw
		default:
			if !dt.valid() {
				return nil, fmt.Errorf("tensor %q: unknown dtype %q", t.Name, dt)
			}
			if numel > len(t.Raw)/dt.Size() || len(t.Raw) != numel*dt.Size() {
				return nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, Raw has %d", t.Name, t.Shape, dt, numel*dt.Size(), len(t.Raw))
			}
			raws[i] = t.Raw
		}
		dts[i] = dt
	}

	// Header, in the byte form of Python's json.dumps(..., separators=(",", ":")).
	plan := make([]outTensor, len(ts))
	off := 0
	for i, t := range ts {
		plan[i] = outTensor{name: t.Name, dtype: dts[i], shape: t.Shape, size: len(raws[i])}
		off += len(raws[i])
	}
	h, err := safetensorsHeader(plan, metadata)
	if err != nil {
		return nil, err
	}

	out := make([]byte, 8, 8+len(h)+off)
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	for _, r := range raws {
		out = append(out, r...)
	}
	return out, nil
}

// encodeFloat32 stores float32 values as dtype dt, little-endian.
func encodeFloat32(data []float32, dt DType) ([]byte, error) {
	switch dt {
	case F32:
		out := make([]byte, 4*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out, nil
	case F16, BF16:
		out := make([]byte, 2*len(data))
		conv := f32ToF16
		if dt == BF16 {
			conv = f32ToBF16
		}
		for i, v := range data {
			binary.LittleEndian.PutUint16(out[2*i:], conv(v))
		}
		return out, nil
	}
	return nil, fmt.Errorf("float32 Data cannot be stored as %q (use Raw)", dt)
}

// appendJSONString appends s as a JSON string the way Python's json.dumps
// does by default (ensure_ascii): printable ASCII as is, \" \\ \n \r \t
// \b \f escaped, everything else as \uXXXX (UTF-16, lower-case hex).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r > 0xffff:
			r -= 0x10000
			b = u(b, 0xd800+(r>>10))
			b = u(b, 0xdc00+(r&0x3ff))
		default:
			b = u(b, r)
		}
	}
	return append(b, '"')
}

// writeAtomic writes path with write through atomicfile (replace: a
// synced temporary file renamed over path, a symbolic link at path
// followed so the link stays and its target is replaced, the permission
// bits of the replaced file kept, 0644 for a new one, a path that exists
// but is not a regular file refused). On any error path is untouched.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, true, write); err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	return nil
}
