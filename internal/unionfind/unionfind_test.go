package unionfind

import (
	"math/rand"
	"testing"
)

// TestAgainstLabels unites random pairs and checks Find against a naive
// relabelling (every member of a merged set takes the smaller label), and
// that the root of every set is its smallest member.
func TestAgainstLabels(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const n = 300
	u := New(n)
	lab := make([]int32, n)
	for i := range lab {
		lab[i] = int32(i)
	}
	for k := 0; k < 250; k++ {
		a, b := int32(rng.Intn(n)), int32(rng.Intn(n))
		apart := lab[a] != lab[b]
		if got := u.Union(a, b); got != apart {
			t.Fatalf("union %d %d: %v, want %v", a, b, got, apart)
		}
		if apart {
			lo, hi := min(lab[a], lab[b]), max(lab[a], lab[b])
			for i := range lab {
				if lab[i] == hi {
					lab[i] = lo
				}
			}
		}
	}
	for i := int32(0); i < n; i++ {
		if r := u.Find(i); r != lab[i] {
			t.Fatalf("Find(%d) = %d, want %d (the smallest member)", i, r, lab[i])
		}
	}
	u.Reset(5)
	if u.Len() != 5 || u.Find(4) != 4 || !u.Union(4, 2) || u.Find(4) != 2 || u.Union(2, 4) {
		t.Fatal("Reset did not give fresh singletons")
	}
}
