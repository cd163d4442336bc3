package benchmarks

import (
	"fmt"

	"github.com/tessella-ml/tessella/internal/size"
)

// maxOperandElems bounds the elements of any one operand (matrix, Q, K, V
// or Out) that a benchmark allocates: 1<<30 float32s, 4 GiB. The largest
// default shapes stay far below it (GEMM's 65536×1152 input is 75 M
// elements, the biggest listed attention sweep 2 M per operand), while a
// benchmark allocates a few operands of this size (plus copies), which is
// what a large machine can still hold; above it a run cannot be meant,
// and sizes near int's range would overflow the products that index the
// operands (make then panics). Shapes beyond it are refused up front.
const maxOperandElems = 1 << 30

// boundedProduct returns the product of the factors and whether it is
// defined (size.Mul) and at most limit.
func boundedProduct(limit int, factors ...int) (int, bool) {
	p, ok := size.Mul(factors...)
	return p, ok && p <= limit
}

// checkMatmulShape checks one (M, N, K) of y = x·Wᵀ: every size positive
// and each of x (M×K), W (N×K) and y (M×N) at most maxOperandElems.
func checkMatmulShape(s [3]int) error {
	m, n, k := s[0], s[1], s[2]
	if m < 1 || n < 1 || k < 1 {
		return fmt.Errorf("shape %d,%d,%d: sizes must be positive", m, n, k)
	}
	for _, op := range []struct {
		name string
		r, c int
	}{{"x", m, k}, {"W", n, k}, {"y", m, n}} {
		if _, ok := boundedProduct(maxOperandElems, op.r, op.c); !ok {
			return fmt.Errorf("shape %d,%d,%d: operand %s (%d×%d) has more than %d elements (4 GiB of float32)",
				m, n, k, op.name, op.r, op.c, maxOperandElems)
		}
	}
	return nil
}
