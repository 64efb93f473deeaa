package unionfind

import (
	"math/rand/v2"
	"testing"
)

// TestAgainstLabels checks Find/Union against a naive relabelling.
func TestAgainstLabels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 300
	u := New(n)
	lab := make([]int, n)
	for i := range lab {
		lab[i] = i
	}
	for step := 0; step < 400; step++ {
		a, b := r.IntN(n), r.IntN(n)
		distinct := lab[a] != lab[b]
		if got := u.Union(a, b); got != distinct {
			t.Fatalf("step %d: Union(%d,%d) = %v, want %v", step, a, b, got, distinct)
		}
		if distinct {
			old := lab[b]
			for i := range lab {
				if lab[i] == old {
					lab[i] = lab[a]
				}
			}
		}
		for i := 0; i < n; i++ {
			j := r.IntN(n)
			if (u.Find(i) == u.Find(j)) != (lab[i] == lab[j]) {
				t.Fatalf("step %d: %d and %d disagree", step, i, j)
			}
		}
	}
	if u.Len() != n {
		t.Fatal("Len")
	}
}
