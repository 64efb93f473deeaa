// Package par is lungctl's one way to run CPU work in parallel, under one
// process-wide worker budget.
//
// The budget is a number of goroutines allowed to do CPU work at once
// (default runtime.GOMAXPROCS(0), set with SetLimit from the CLI's
// -j/--threads). Every goroutine that calls For or Chunks is assumed to
// already be working: the loop runs on the caller plus as many extra
// goroutines as there are free slots at that moment (never more than the
// items), and gives the slots back when it returns. A long-lived worker that
// is not a loop caller, such as one scan of a batch run, takes a slot for its
// whole life with Acquire. So `lungctl run -j 4` on a 2-core budget runs two
// scans at a time, each scan's loops running on their own goroutine only,
// and `run -j 1` gives the one scan every core: the number of goroutines
// doing work never exceeds the budget (plus the process's main goroutine when
// it is itself a loop caller).
//
// Nested loops are fine: an inner loop takes whatever slots are free and
// otherwise runs on its caller.
package par

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

var (
	mu    sync.Mutex
	cond  = sync.NewCond(&mu)
	limit = runtime.GOMAXPROCS(0)
	used  int // slots taken by Acquire and by loops' extra goroutines
	// acquired is how many of used are Acquire's long-lived workers. While
	// there are any, loops are taken to run on them (their caller already
	// holds a slot); while there are none, on the main goroutine, which
	// holds none, so a loop leaves one slot for its caller.
	acquired int
)

// SetLimit sets the process-wide worker budget (n < 1 means 1). It is meant
// to be called once at start-up, before any work.
func SetLimit(n int) {
	mu.Lock()
	limit = max(n, 1)
	mu.Unlock()
	cond.Broadcast()
}

// Limit returns the worker budget: the most goroutines any loop uses, so a
// caller can size per-worker scratch space as make([]T, par.Limit()).
func Limit() int {
	mu.Lock()
	defer mu.Unlock()
	return limit
}

// Acquire blocks until a slot is free (or ctx is done) and takes it for a
// long-lived worker; call the returned release exactly once when the worker
// stops.
func Acquire(ctx context.Context) (release func(), err error) {
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
	})
	defer stop()
	mu.Lock()
	for used >= limit && ctx.Err() == nil {
		cond.Wait()
	}
	if err := ctx.Err(); err != nil {
		mu.Unlock()
		return nil, err
	}
	used++
	acquired++
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			acquired--
			mu.Unlock()
			give(1)
		})
	}, nil
}

// take takes up to want free slots without waiting and returns how many.
func take(want int) int {
	if want <= 0 {
		return 0
	}
	mu.Lock()
	defer mu.Unlock()
	caller := 1 // the main goroutine, which holds no slot
	if acquired > 0 {
		caller = 0 // a worker that holds its slot
	}
	n := min(want, limit-caller-used)
	if n < 0 {
		n = 0
	}
	used += n
	return n
}

func give(n int) {
	if n == 0 {
		return
	}
	mu.Lock()
	used -= n
	mu.Unlock()
	cond.Broadcast()
}

// For runs f(w, i) for every i in [0, n), handing items out one at a time
// (dynamic scheduling, good for uneven items such as slices), and returns
// when all are done. w identifies the goroutine, 0 ≤ w < Limit(), so f may
// index per-worker scratch space with it; the caller runs as worker 0.
func For(n int, f func(w, i int)) {
	if n <= 0 {
		return
	}
	extra := take(min(n, Limit()) - 1)
	defer give(extra)
	var next atomic.Int64
	run := func(w int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			f(w, i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w <= extra; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()
}

// Chunks splits [0, n) into contiguous ranges of at least minChunk items
// (minChunk < 1 means 1), runs f(w, lo, hi) on each with the same worker
// numbering as For, and returns when all are done. Use it for uniform work
// over many small items, where one item per call would cost more than it
// does.
func Chunks(n, minChunk int, f func(w, lo, hi int)) {
	if n <= 0 {
		return
	}
	minChunk = max(minChunk, 1)
	k := min(Limit(), (n+minChunk-1)/minChunk)
	// A few chunks per worker balance uneven ranges.
	if k > 1 {
		k = min(4*k, (n+minChunk-1)/minChunk)
	}
	size := (n + k - 1) / k
	For((n+size-1)/size, func(w, c int) {
		lo := c * size
		f(w, lo, min(lo+size, n))
	})
}
