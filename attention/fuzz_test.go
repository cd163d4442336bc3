package attention

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// FuzzKernels compares every kernel with Reference on a random small shape,
// layout, mask, thread count and input magnitude derived from the fuzz
// input, within tolerance().
func FuzzKernels(f *testing.F) {
	f.Add(uint64(1), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), uint8(0), uint8(0), uint8(0))
	f.Add(uint64(2), uint8(2), uint8(3), uint8(17), uint8(33), uint8(64), uint8(1), uint8(1), uint8(1))
	f.Add(uint64(3), uint8(1), uint8(2), uint8(1), uint8(200), uint8(64), uint8(2), uint8(0), uint8(5))
	f.Add(uint64(4), uint8(2), uint8(1), uint8(70), uint8(70), uint8(128), uint8(0), uint8(2), uint8(7))
	f.Add(uint64(5), uint8(1), uint8(1), uint8(65), uint8(3), uint8(37), uint8(1), uint8(1), uint8(3))
	f.Add(uint64(6), uint8(3), uint8(2), uint8(9), uint8(129), uint8(32), uint8(0), uint8(0), uint8(6))
	f.Fuzz(func(t *testing.T, seed uint64, b, h, nq, nk, d, lay, mk, mag uint8) {
		s := shape{1 + int(b)%3, 1 + int(h)%3, 1 + int(nq)%96, 1 + int(nk)%160, 1 + int(d)%136}
		r := rand.New(rand.NewPCG(seed, 0))
		magnitude := 1.0
		if mag&8 != 0 {
			magnitude = 20
		}
		a := makeArgs(r, s, layout(int(lay)%3), maskKind(int(mk)%int(numMasks)), 1+int(mag)%2, magnitude)
		want := clone(a)
		if err := (Reference{}).Forward(want); err != nil {
			t.Fatal(err)
		}
		tol := tolerance(a, maxScore(a))
		for _, k := range kernelsUnderTest() {
			t.Run(fmt.Sprint(k.Name()), func(t *testing.T) { compare(t, k, a, want, tol) })
		}
	})
}
