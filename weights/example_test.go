package weights_test

import (
	"fmt"
	"log"

	"github.com/tessella-ml/tessella/weights"
)

func ExampleOpen() {
	// Open tells .pt from safetensors by content.
	for _, path := range []string{"../testdata/weights/small.pt", "../testdata/weights/small.safetensors"} {
		f, err := weights.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		t, _ := f.Tensor("f16.transposed")
		data, shape, err := f.Float32("f16.transposed") // converted from F16, gathered from a strided view
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(f.Format(), len(f.Names()), t.DType, shape, len(data), f.Has("linear.weight"))
		f.Close()
	}
	// Output:
	// pt 21 F16 [4 3] 12 true
	// safetensors 21 F16 [4 3] 12 true
}
