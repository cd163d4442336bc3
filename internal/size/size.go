// Package size multiplies sizes without overflowing: the element counts of
// shapes, grids and buffers that come from callers and files, checked
// before anything is allocated or indexed with them.
package size

import "math"

// Mul returns the product of the non-negative sizes xs (1 for none) and
// whether it is defined: false if any size is negative or the product
// overflows an int.
func Mul(xs ...int) (int, bool) {
	p := 1
	for _, x := range xs {
		if x < 0 || (x != 0 && p > math.MaxInt/x) {
			return 0, false
		}
		p *= x
	}
	return p, true
}

// Fits reports whether Mul(xs...) is defined.
func Fits(xs ...int) bool {
	_, ok := Mul(xs...)
	return ok
}
