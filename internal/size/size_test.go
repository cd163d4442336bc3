package size

import (
	"math"
	"testing"
)

func TestMul(t *testing.T) {
	for _, c := range []struct {
		xs   []int
		want int
		ok   bool
	}{
		{nil, 1, true},
		{[]int{3, 4, 5}, 60, true},
		{[]int{0, math.MaxInt, math.MaxInt}, 0, true},
		{[]int{math.MaxInt, 1}, math.MaxInt, true},
		{[]int{1 << 31, 1 << 31}, 1 << 62, true},
		{[]int{1 << 32, 1 << 32}, 0, false},
		{[]int{math.MaxInt/2 + 1, 2}, 0, false},
		{[]int{2, -1}, 0, false},
		{[]int{-1, -1}, 0, false}, // negative sizes are refused, not multiplied to 1
	} {
		got, ok := Mul(c.xs...)
		if got != c.want || ok != c.ok {
			t.Errorf("Mul(%v) = %d, %v; want %d, %v", c.xs, got, ok, c.want, c.ok)
		}
		if Fits(c.xs...) != c.ok {
			t.Errorf("Fits(%v) = %v, want %v", c.xs, !c.ok, c.ok)
		}
	}
}
