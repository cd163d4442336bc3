// Package cblas calls OpenBLAS's cblas_sgemm through cgo; it is empty
// unless built with -tags openblas (see cblas.go).
package cblas
