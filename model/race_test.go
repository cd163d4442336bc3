//go:build race

package model

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts (TestStepAllocations) mean nothing under it.
const raceEnabled = true
