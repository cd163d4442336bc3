package benchmarks

import (
	"fmt"
	"os"

	"github.com/tessella-ml/tessella/internal/matmul"
)

// openblasAvailable: the build has matmul's OpenBLAS tier (-tags openblas,
// cgo), the oracle in the GEMM table.
var openblasAvailable = matmul.Available(matmul.OpenBLAS)

// OpenBLASInfo names the core OpenBLAS picked and the environment that set
// it. OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when the
// process starts, so comparing its kernels takes separate runs (e.g.
// `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE …` and OPENBLAS_CORETYPE=SkylakeX).
func OpenBLASInfo() string {
	if !openblasAvailable {
		return "no OpenBLAS in this build (-tags openblas)"
	}
	return fmt.Sprintf("OpenBLAS core %s (OPENBLAS_CORETYPE=%q OPENBLAS_L2_SIZE=%q)",
		matmul.OpenBLASCore(), os.Getenv("OPENBLAS_CORETYPE"), os.Getenv("OPENBLAS_L2_SIZE"))
}
