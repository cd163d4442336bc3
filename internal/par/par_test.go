package par

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// check runs Run(n, ·) and verifies every index ran exactly once, and that
// all had finished when Run returned.
func check(t *testing.T, n int) {
	t.Helper()
	counts := make([]atomic.Int32, max(n, 1))
	var finished atomic.Int32
	Run(n, func(w int) {
		if w < 0 || w >= n {
			t.Errorf("Run(%d): index %d", n, w)
			return
		}
		counts[w].Add(1)
		finished.Add(1)
	})
	if n >= 1 && int(finished.Load()) != n {
		t.Fatalf("Run(%d) returned after %d of %d calls", n, finished.Load(), n)
	}
	for w := 0; w < n; w++ {
		if c := counts[w].Load(); c != 1 {
			t.Fatalf("Run(%d): index %d ran %d times", n, w, c)
		}
	}
}

func TestRunEachIndexOnce(t *testing.T) {
	Run(0, func(int) { t.Fatal("Run(0) called f") })
	for _, n := range []int{1, 2, 3, 7, 2, 16, 1, 4} {
		check(t, n)
	}
	for range 2000 { // back to back: the workers are spinning
		check(t, 3)
	}
}

func TestRunAfterWorkersPark(t *testing.T) {
	for range 3 {
		check(t, 3)
		time.Sleep(3 * spinTime) // the workers park
		check(t, 3)
	}
}

func TestRunConcurrentAndNested(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				n := 1 + (g+i)%4
				var sum atomic.Int64
				Run(n, func(w int) {
					// A nested Run finds the pool busy and spawns.
					Run(2, func(v int) { sum.Add(int64(10*w + v + 1)) })
				})
				want := int64(0)
				for w := range n {
					want += int64(20*w + 3)
				}
				if sum.Load() != want {
					t.Errorf("goroutine %d, n=%d: sum %d, want %d", g, n, sum.Load(), want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A panic in f(0) reaches Run's caller only after the workers are done, and
// the pool works afterwards.
func TestRunPanicInCaller(t *testing.T) {
	var others atomic.Int32
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic of f(0) was lost")
			}
		}()
		Run(3, func(w int) {
			if w == 0 {
				panic("f(0)")
			}
			time.Sleep(time.Millisecond)
			others.Add(1)
		})
	}()
	if others.Load() != 2 {
		t.Fatalf("Run panicked with %d of 2 workers done", others.Load())
	}
	check(t, 3)
}

// BenchmarkForkJoinGap: a fork-join of two after 20 µs of work on the
// caller, as between the GEMVs of a decode step; compare Spawn.
func BenchmarkForkJoinGap(b *testing.B) {
	var sink [2]int
	for _, c := range []struct {
		name string
		run  func(int, func(int))
	}{{"pool", Run}, {"spawn", spawn}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				t := time.Now()
				for time.Since(t) < 20*time.Microsecond {
				}
				c.run(2, func(w int) { sink[w]++ })
			}
		})
	}
}
