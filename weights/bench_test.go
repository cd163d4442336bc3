package weights

import (
	"math/rand"
	"testing"
)

// benchConvert measures converting 1M weight-like elements (N(0, 0.02²),
// as dt) to float32.
func benchConvert(b *testing.B, dt DType) {
	const n = 1 << 20
	r := rand.New(rand.NewSource(1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * 0.02)
	}
	src, err := encodeFloat32(v, dt)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, n)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		convertToF32(dst, src, dt)
	}
}

func BenchmarkConvertF16(b *testing.B)  { benchConvert(b, F16) }
func BenchmarkConvertBF16(b *testing.B) { benchConvert(b, BF16) }
