// Package unionfind is a tiny disjoint-set forest over the integers 0…n−1
// (union by size, path halving), shared by the packages that merge
// clusters, modes and components.
package unionfind

// UF is a disjoint-set forest; the zero value is empty (use New).
type UF struct {
	parent []int32
	size   []int32
}

// New returns n singleton sets {0}, {1}, …, {n−1}.
func New(n int) *UF {
	u := &UF{parent: make([]int32, n), size: make([]int32, n)}
	for i := range u.parent {
		u.parent[i] = int32(i)
		u.size[i] = 1
	}
	return u
}

// Find returns the representative of x's set.
func (u *UF) Find(x int) int {
	p := u.parent
	for int(p[x]) != x {
		p[x] = p[p[x]]
		x = int(p[x])
	}
	return x
}

// Union merges the sets of a and b and reports whether they were distinct.
func (u *UF) Union(a, b int) bool {
	ra, rb := u.Find(a), u.Find(b)
	if ra == rb {
		return false
	}
	if u.size[ra] < u.size[rb] {
		ra, rb = rb, ra
	}
	u.parent[rb] = int32(ra)
	u.size[ra] += u.size[rb]
	return true
}

// Len is the number of elements.
func (u *UF) Len() int { return len(u.parent) }
