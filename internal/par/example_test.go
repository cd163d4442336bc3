package par_test

import (
	"fmt"

	"github.com/tessella-ml/tessella/internal/par"
)

// Each of n workers takes a contiguous share of a loop; Run returns when
// all have finished.
func ExampleRun() {
	data := make([]int, 10)
	const workers = 3
	par.Run(workers, func(w int) {
		lo, hi := w*len(data)/workers, (w+1)*len(data)/workers
		for i := lo; i < hi; i++ {
			data[i] = i * i
		}
	})
	fmt.Println(data)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}
