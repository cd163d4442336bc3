package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinTime is how long an idle worker (and a caller waiting for workers)
// polls before parking: longer than the gaps between the loops of a decode
// step, short enough that an idle process goes quiet at once.
const spinTime = 100 * time.Microsecond

// Run calls f(w) for w = 0 … n−1, f(0) on the calling goroutine and the
// rest concurrently, and returns when all have returned. n ≤ 1 runs f(0)
// inline (n < 1 runs nothing).
func Run(n int, f func(w int)) {
	switch {
	case n < 1:
		return
	case n == 1:
		f(0)
		return
	}
	if !pool.mu.TryLock() {
		spawn(n, f)
		return
	}
	defer pool.mu.Unlock()
	for len(pool.workers) < n-1 {
		wk := &worker{w: len(pool.workers) + 1, wake: make(chan struct{}, 1)}
		pool.workers = append(pool.workers, wk)
		go wk.loop()
	}
	j := &pool.job
	j.f = f
	j.left.Store(int32(n - 1))
	for _, wk := range pool.workers[:n-1] {
		wk.ready.Store(true)
		if wk.parked.Load() {
			select {
			case wk.wake <- struct{}{}:
			default:
			}
		}
	}
	defer j.wait() // also when f(0) panics: the next Run must find the job done
	f(0)
}

// wait returns when the workers of j have finished: it polls for spinTime,
// then blocks on done (the last worker always sends, so done is always
// received exactly once per job).
func (j *job) wait() {
	deadline := time.Now().Add(spinTime)
	for i := 1; j.left.Load() != 0; i++ {
		if i%64 == 0 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	<-j.done
	j.f = nil
}

// spawn is Run on fresh goroutines.
func spawn(n int, f func(w int)) {
	var wg sync.WaitGroup
	for w := 1; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w)
		}()
	}
	f(0)
	wg.Wait()
}

var pool = struct {
	mu      sync.Mutex // held by the Run that uses the workers
	workers []*worker  // workers[i] runs index i+1 of a job
	job     job        // the current job, reused (one Run at a time)
}{job: job{done: make(chan struct{}, 1)}}

type job struct {
	f    func(w int)
	left atomic.Int32  // workers still running
	done chan struct{} // receives one value when left reaches 0
}

// A worker runs index w of each job it is handed; Run sets ready.
type worker struct {
	w      int
	ready  atomic.Bool   // set by Run, cleared by the worker when it takes the job
	parked atomic.Bool   // the worker is (about to be) blocked on wake
	wake   chan struct{} // capacity 1; a stale token only costs one extra poll
}

func (wk *worker) loop() {
	j := &pool.job
	for {
		wk.next()
		j.f(wk.w)
		if j.left.Add(-1) == 0 {
			j.done <- struct{}{}
		}
	}
}

// next polls ready for spinTime, then parks until Run wakes it. Run sets
// ready before it reads parked and the worker sets parked before its last
// look at ready, so a job is never missed.
func (wk *worker) next() {
	deadline := time.Now().Add(spinTime)
	for i := 1; ; i++ {
		if wk.ready.Swap(false) {
			return
		}
		if i%64 != 0 {
			continue
		}
		if time.Now().Before(deadline) {
			runtime.Gosched()
			continue
		}
		wk.parked.Store(true)
		if wk.ready.Swap(false) {
			wk.parked.Store(false)
			return
		}
		<-wk.wake
		wk.parked.Store(false)
		deadline = time.Now().Add(spinTime)
	}
}
