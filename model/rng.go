package model

import (
	"math"
	"math/rand/v2"
)

const (
	mtN         = 624
	mtM         = 397
	mtMatrixA   = 0x9908b0df
	mtUpperMask = 0x80000000
	mtLowerMask = 0x7fffffff
)

// TorchRNG reproduces PyTorch 1.13's CPU default generator after
// torch.manual_seed(seed) and its exponential_ draws (spec §7): an MT19937
// seeded with init_genrand(seed & 0xffffffff); each Exp(1) draw takes two
// 32-bit outputs a, b, forms u = ((a<<32)|b) & (2^53−1) / 2^53 in float64
// and returns float32(−log(1 − u)). With it, Sampler reproduces
// torch.multinomial on this (non-MKL) build bit for bit.
type TorchRNG struct {
	mt  [mtN]uint32
	idx int
}

// NewTorchRNG returns the generator state torch.manual_seed(seed) sets.
func NewTorchRNG(seed uint64) *TorchRNG {
	r := &TorchRNG{}
	r.mt[0] = uint32(seed)
	for i := 1; i < mtN; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = mtN
	return r
}

// Uint32 returns the next MT19937 output.
func (r *TorchRNG) Uint32() uint32 {
	if r.idx >= mtN {
		for i := range mtN {
			y := (r.mt[i] & mtUpperMask) | (r.mt[(i+1)%mtN] & mtLowerMask)
			v := r.mt[(i+mtM)%mtN] ^ (y >> 1)
			if y&1 != 0 {
				v ^= mtMatrixA
			}
			r.mt[i] = v
		}
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Float64 returns torch's uniform double in [0, 1): 53 bits of
// (first<<32 | second) scaled by 2^−53.
func (r *TorchRNG) Float64() float64 {
	a, b := uint64(r.Uint32()), uint64(r.Uint32())
	return float64((a<<32|b)&(1<<53-1)) * (1.0 / (1 << 53))
}

// Exponential fills dst like torch.empty(len(dst)).exponential_(1).
func (r *TorchRNG) Exponential(dst []float32) {
	for i := range dst {
		dst[i] = float32(-math.Log(1 - r.Float64()))
	}
}

// GoRNG draws Exp(1) noise from math/rand/v2's PCG seeded with the seed.
// Its images differ from min-dalle's for the same seed, but it follows the
// same sampling code path and is the faster default.
type GoRNG struct {
	r *rand.Rand
}

// NewGoRNG returns a GoRNG seeded with seed.
func NewGoRNG(seed uint64) *GoRNG {
	return &GoRNG{r: rand.New(rand.NewPCG(seed, 0x7e55e11a))}
}

// Exponential fills dst with float32(ExpFloat64()) draws.
func (g *GoRNG) Exponential(dst []float32) {
	for i := range dst {
		dst[i] = float32(g.r.ExpFloat64())
	}
}
