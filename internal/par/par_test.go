package par

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// busy counts goroutines inside f at once and records the peak.
type busy struct{ now, peak atomic.Int64 }

func (b *busy) enter() {
	n := b.now.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			return
		}
	}
}
func (b *busy) leave() { b.now.Add(-1) }

func withLimit(t *testing.T, n int) {
	old := Limit()
	SetLimit(n)
	t.Cleanup(func() { SetLimit(old) })
}

func TestForCoversEveryItemOnce(t *testing.T) {
	withLimit(t, 4)
	for _, n := range []int{0, 1, 3, 100, 1000} {
		hits := make([]int32, n)
		var bad atomic.Bool
		For(n, func(w, i int) {
			if w < 0 || w >= 4 {
				bad.Store(true)
			}
			atomic.AddInt32(&hits[i], 1)
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: item %d ran %d times", n, i, h)
			}
		}
		if bad.Load() {
			t.Fatalf("n=%d: worker id outside [0, Limit())", n)
		}
	}
}

func TestChunksCoverRange(t *testing.T) {
	withLimit(t, 3)
	for _, n := range []int{1, 7, 64, 1001} {
		for _, mc := range []int{0, 1, 5, 2000} {
			hits := make([]int32, n)
			Chunks(n, mc, func(w, lo, hi int) {
				if lo >= hi {
					t.Errorf("empty chunk [%d,%d)", lo, hi)
				}
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n=%d minChunk=%d: item %d covered %d times", n, mc, i, h)
				}
			}
		}
	}
}

// With -j workers each holding a slot and running their own loops, the
// number of goroutines working at once never exceeds the budget.
func TestBudgetBoundsNestedWork(t *testing.T) {
	withLimit(t, 3)
	var b busy
	work := func() {
		b.enter()
		time.Sleep(200 * time.Microsecond)
		b.leave()
	}
	var wg sync.WaitGroup
	for s := 0; s < 6; s++ { // six "scans", more than the budget
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			For(40, func(w, i int) {
				// A nested loop takes only slots that are free.
				For(3, func(int, int) { work() })
			})
		}()
	}
	wg.Wait()
	if p := b.peak.Load(); p > 3 {
		t.Fatalf("peak %d goroutines working, budget 3", p)
	}
	if p := b.peak.Load(); p < 2 {
		t.Fatalf("peak %d: the budget of 3 was never used in parallel", p)
	}
}

func TestLoneLoopUsesTheBudget(t *testing.T) {
	withLimit(t, 4)
	var b busy
	For(64, func(w, i int) {
		b.enter()
		time.Sleep(time.Millisecond)
		b.leave()
	})
	if p := b.peak.Load(); p < 2 || p > 4 {
		t.Fatalf("peak %d goroutines, want 2..4", p)
	}
}

// One scan of a batch holds a slot with Acquire and runs its loops on its
// own goroutine: with a budget of 2 they must still run on 2 goroutines
// (run -j 1 in one process gives the scan every core). They ran on 1 when
// the loop counted its caller's slot twice.
func TestAcquiredWorkerLoopUsesTheBudget(t *testing.T) {
	withLimit(t, 2)
	release, err := Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var b busy
	For(64, func(w, i int) {
		b.enter()
		time.Sleep(time.Millisecond)
		b.leave()
	})
	if p := b.peak.Load(); p != 2 {
		t.Fatalf("peak %d goroutines, want 2", p)
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	withLimit(t, 1)
	release, err := Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx); err == nil {
		t.Fatal("Acquire with the only slot taken returned without waiting")
	}
	release()
	release() // a second call is harmless
	r2, err := Acquire(context.Background())
	if err != nil {
		t.Fatalf("slot not given back: %v", err)
	}
	r2()
}
