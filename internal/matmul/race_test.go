//go:build race

package matmul

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts (TestScratchAllocations) mean nothing under it.
const raceEnabled = true
