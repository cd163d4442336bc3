package weights

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"
)

// DType names an element type with the safetensors spelling.
type DType string

// The element types the package reads. All are little-endian.
const (
	F32  DType = "F32"  // IEEE 754 binary32
	F16  DType = "F16"  // IEEE 754 binary16
	BF16 DType = "BF16" // bfloat16: the top 16 bits of a binary32
	F64  DType = "F64"  // IEEE 754 binary64
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	BOOL DType = "BOOL" // one byte, 0 or 1
)

// Size returns the size of one element in bytes, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, BOOL:
		return 1
	}
	return 0
}

// valid reports whether d is one of the dtypes above.
func (d DType) valid() bool { return d.Size() != 0 }

// f16ToF32 converts an IEEE binary16 bit pattern to float32 exactly
// (subnormals, ±0, ±Inf and NaN payloads included).
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp != 0 && exp != 0x1f: // normal: rebias 15 → 127
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case exp == 0x1f: // Inf or NaN: keep the payload
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: mant × 2⁻²⁴, exact in float32.
	v := float32(mant) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(v))
}

// f32ToF16 rounds a float32 to the nearest binary16 (ties to even),
// overflowing to ±Inf and keeping NaNs NaN.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		m := uint16(mant >> 13)
		if m == 0 {
			m = 0x200 // keep it a NaN
		}
		return sign | 0x7c00 | m
	}
	e := exp - 112 // binary16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 { // normal
		h := uint32(e)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++ // may carry into the exponent, up to Inf: correct
		}
		return sign | uint16(h)
	}
	// Subnormal or zero in binary16.
	if exp == 0 {
		return sign // float32 subnormals are far below 2⁻²⁵
	}
	shift := uint(14 - e)
	if shift > 24 {
		return sign
	}
	m := mant | 0x800000
	h := m >> shift
	rest := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || (rest == half && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// bf16ToF32 converts a bfloat16 bit pattern to float32 exactly.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 rounds a float32 to the nearest bfloat16 (ties to even),
// keeping NaNs NaN.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7f800000 == 0x7f800000 && b&0x7fffff != 0 {
		return uint16(b>>16) | 0x40 // quiet NaN
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// convertToF32 decodes n elements of dtype d from the contiguous
// little-endian bytes src into dst (len(dst) == n).
func convertToF32(dst []float32, src []byte, d DType) {
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		tbl := f16Table()[:1<<16]
		if u, ok := asUint16s(src, len(dst)); ok {
			for i, h := range u {
				dst[i] = tbl[h]
			}
			return
		}
		src = src[:2*len(dst)]
		for i := range dst {
			dst[i] = tbl[uint16(src[2*i])|uint16(src[2*i+1])<<8]
		}
	case BF16:
		if u, ok := asUint16s(src, len(dst)); ok {
			for i, h := range u {
				dst[i] = math.Float32frombits(uint32(h) << 16)
			}
			return
		}
		src = src[:2*len(dst)]
		for i := range dst {
			dst[i] = math.Float32frombits((uint32(src[2*i]) | uint32(src[2*i+1])<<8) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(binary.LittleEndian.Uint64(src[8*i:])))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(binary.LittleEndian.Uint16(src[2*i:])))
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(src[i]))
		}
	case U8:
		for i := range dst {
			dst[i] = float32(src[i])
		}
	case BOOL:
		for i := range dst {
			if src[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	}
}

// f16Table returns the float32 value of every binary16 pattern (256 KB,
// built on first use): a lookup beats the bit manipulation of f16ToF32
// several times over in conversion loops.
var f16Table = sync.OnceValue(func() []float32 {
	t := make([]float32, 1<<16)
	for i := range t {
		t[i] = f16ToF32(uint16(i))
	}
	return t
})

// asUint16s views the first n little-endian uint16s of b without a copy,
// when the machine is little-endian and b is 2-byte aligned.
func asUint16s(b []byte, n int) ([]uint16, bool) {
	if n == 0 || len(b) < 2*n || !nativeLittle || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), n), true
}
