// Package par runs fork-join loops — f(0), …, f(n−1) at once, then wait —
// on a pool of goroutines that spin for a short while after each job
// before they park.
//
// One decoder step of DALL·E Mini runs about 110 such loops (the GEMVs of
// 12 layers, their attention, the logits) a few tens of microseconds apart.
// Starting fresh goroutines for each loop may pay, every time, for waking
// an OS thread that went to sleep in the gap: on the 2-vCPU development VM
// a two-goroutine fork-join after 20 µs of single-threaded work cost 4 to
// 18 µs more than back to back (two runs of the loop BenchmarkForkJoinGap
// times). A pool worker that is still spinning starts at once. Measured on
// whole generations: DALL·E Mini-shaped decode 0.0565 → 0.044 s per token
// on 2 threads, the embedded default model 0.42 → 0.24 s per image.
//
// The pool is used by one Run at a time; a Run that finds it busy (another
// goroutine's Run, or a Run nested inside f) starts goroutines as before,
// so Run never waits for the pool and never deadlocks.
package par
