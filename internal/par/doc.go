// Package par runs fork-join loops — f(0), …, f(n−1) at once, then wait —
// on a pool of goroutines that spin for a short while after each job
// before they park.
//
// One decoder step of DALL·E Mini runs about 145 such loops (the GEMVs of
// 12 layers, their attention, the logits) a few tens of microseconds apart.
// Starting fresh goroutines for each loop pays, every time, for waking an
// OS thread that went to sleep in the gap: measured on the 2-vCPU
// development VM, 2.4 µs per two-goroutine fork-join back to back but ≈ 18
// µs after 20 µs of single-threaded work. A pool worker that is still
// spinning starts within a fraction of a microsecond.
//
// The pool is used by one Run at a time; a Run that finds it busy (another
// goroutine's Run, or a Run nested inside f) starts goroutines as before,
// so Run never waits for the pool and never deadlocks.
package par
