package weights

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"gorgonia.org/tensor"
)

// nativeLittle reports whether this machine stores numbers little-endian,
// the precondition for viewing file bytes as []float32 without a copy.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Tensor is one named tensor of a File. Its data stays in the file's
// bytes (the memory mapping, or the buffer given to OpenBytes) until it
// is asked for.
type Tensor struct {
	Name  string
	DType DType
	Shape []int // row-major; empty for a 0-d scalar

	path  string // the file, for error messages
	numel int
	// Contiguous tensors: data holds exactly numel×size bytes and strides
	// is nil. Strided views (.pt only): data is the whole storage, offset
	// and strides count elements.
	data    []byte
	offset  int
	strides []int
	q8      *q8Info // non-nil: the I8 half of a q8 pair (q8.go)
	file    *File   // the File it belongs to, to refuse reads after Close
}

// closed returns an error wrapping ErrClosed once the tensor's File has
// been closed (its bytes may be unmapped by then), and nil before.
func (t *Tensor) closed() error {
	if t.file != nil && t.file.closed {
		return fmt.Errorf("weights: %s: tensor %q: %w", t.path, t.Name, ErrClosed)
	}
	return nil
}

// NumElements returns the product of Shape (1 for a 0-d scalar).
func (t *Tensor) NumElements() int { return t.numel }

// Contiguous reports whether the tensor's bytes are stored row-major
// without gaps in the file (always true for safetensors).
func (t *Tensor) Contiguous() bool { return t.strides == nil }

// Bytes returns the tensor's elements as contiguous row-major
// little-endian bytes. For a contiguous tensor this is a view of the
// file's bytes (no copy: valid until Close; writes to it are private to
// this process but visible to later readers of the same tensor); a
// strided view is gathered into a new slice. After its File is closed
// Bytes returns nil (it has no error result; Float32 and Ints report
// ErrClosed).
func (t *Tensor) Bytes() []byte {
	b, _ := t.bytes()
	return b
}

// bytes is Bytes with an error wrapping ErrClosed after Close.
func (t *Tensor) bytes() ([]byte, error) {
	if err := t.closed(); err != nil {
		return nil, err
	}
	return t.raw(), nil
}

// raw is bytes for a caller that has checked closed itself.
func (t *Tensor) raw() []byte {
	if t.strides == nil {
		return t.data
	}
	return t.gather()
}

// gather copies a strided view into a new contiguous buffer. The view was
// checked at open time to lie inside its storage.
func (t *Tensor) gather() []byte {
	es := t.DType.Size()
	out := make([]byte, t.numel*es)
	if t.numel == 0 {
		return out
	}
	nd := len(t.Shape)
	if nd == 0 {
		copy(out, t.data[t.offset*es:(t.offset+1)*es])
		return out
	}
	idx := make([]int, nd) // multi-index over the leading nd-1 dims
	inner, innerStride := t.Shape[nd-1], t.strides[nd-1]
	o, base := 0, t.offset
	for {
		p := base
		for j := 0; j < inner; j++ {
			copy(out[o:o+es], t.data[p*es:(p+1)*es])
			o += es
			p += innerStride
		}
		d := nd - 2
		for ; d >= 0; d-- {
			idx[d]++
			base += t.strides[d]
			if idx[d] < t.Shape[d] {
				break
			}
			base -= idx[d] * t.strides[d]
			idx[d] = 0
		}
		if d < 0 {
			return out
		}
	}
}

// Float32 returns the elements as row-major float32. A contiguous F32
// tensor whose bytes are 4-byte aligned is returned without a copy (a view
// of the file's bytes, valid until Close); every other tensor is converted
// into a new slice: F16 and BF16 exactly, F64 rounded to nearest, integers
// by value (large int64 rounded), BOOL as 0 or 1.
// The I8 half of a q8 pair (see Q8) is dequantised. After its File is
// closed it returns an error wrapping ErrClosed.
func (t *Tensor) Float32() ([]float32, error) {
	if err := t.closed(); err != nil {
		return nil, err
	}
	if t.numel == 0 {
		return []float32{}, nil
	}
	if t.q8 != nil {
		return t.dequantQ8()
	}
	if t.DType == F32 && t.strides == nil && nativeLittle &&
		uintptr(unsafe.Pointer(unsafe.SliceData(t.data)))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(t.data))), t.numel), nil
	}
	if !t.DType.valid() {
		return nil, fmt.Errorf("weights: %s: tensor %q: unsupported dtype %q", t.path, t.Name, t.DType)
	}
	out := make([]float32, t.numel)
	convertToF32(out, t.raw(), t.DType)
	return out, nil
}

// Dense returns the tensor as a gorgonia.org/tensor Dense of Float32 over
// the slice Float32 returns (so no copy for an aligned contiguous F32
// tensor). A 0-d tensor becomes a scalar Dense; a tensor with no elements
// is an error (gorgonia cannot represent it), and so is a tensor of a
// closed File (wrapping ErrClosed).
func (t *Tensor) Dense() (d *tensor.Dense, err error) {
	if err := t.closed(); err != nil {
		return nil, err
	}
	if t.numel == 0 {
		return nil, fmt.Errorf("weights: %s: tensor %q: shape %v has no elements; a Dense cannot hold it", t.path, t.Name, t.Shape)
	}
	data, err := t.Float32()
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("weights: %s: tensor %q: gorgonia rejected shape %v: %v", t.path, t.Name, t.Shape, r)
		}
	}()
	if len(t.Shape) == 0 {
		return tensor.New(tensor.FromScalar(data[0])), nil
	}
	return tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(data)), nil
}

// Ints returns an integer tensor (I64, I32, I16, I8, U8, BOOL) as ints, a
// fresh slice in row-major order. Another dtype, or a tensor of a closed
// File (wrapping ErrClosed), is an error.
func (t *Tensor) Ints() ([]int, error) {
	if err := t.closed(); err != nil {
		return nil, err
	}
	switch t.DType {
	case I64, I32, I16, I8, U8, BOOL:
	default:
		return nil, fmt.Errorf("weights: %s: tensor %q is %s, not an integer tensor", t.path, t.Name, t.DType)
	}
	b := t.raw()
	out := make([]int, t.numel)
	for i := range out {
		switch t.DType {
		case I64:
			out[i] = int(int64(binary.LittleEndian.Uint64(b[8*i:])))
		case I32:
			out[i] = int(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case I16:
			out[i] = int(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case I8:
			out[i] = int(int8(b[i]))
		case U8, BOOL:
			out[i] = int(b[i])
		}
	}
	return out, nil
}
