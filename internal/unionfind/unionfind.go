// Package unionfind is a disjoint-set forest over the integers 0…n−1 with
// path halving, where a union makes the smaller root the parent of the
// larger: the root of a set is always its smallest member, so results
// depend only on which pairs were united, not on the order of the unions.
package unionfind

import "github.com/lungctl/lungctl/internal/volume"

// UF is a disjoint-set forest. The zero value holds no elements; use New or
// Reset.
type UF struct {
	parent []int32
}

// New returns n singleton sets {0}, …, {n−1}.
func New(n int) *UF {
	u := &UF{}
	u.Reset(n)
	return u
}

// Reset makes u hold n singleton sets again, reusing its memory by the
// buffer-reuse rule (package volume).
func (u *UF) Reset(n int) {
	u.parent = volume.Resize(u.parent, n)
	for i := range u.parent {
		u.parent[i] = int32(i)
	}
}

// Len is the number of elements.
func (u *UF) Len() int { return len(u.parent) }

// Find returns the root (smallest member) of x's set.
func (u *UF) Find(x int32) int32 {
	p := u.parent
	for p[x] != x {
		p[x] = p[p[x]]
		x = p[x]
	}
	return x
}

// Union merges the sets of a and b and reports whether they were apart.
func (u *UF) Union(a, b int32) bool {
	ra, rb := u.Find(a), u.Find(b)
	if ra == rb {
		return false
	}
	if ra < rb {
		u.parent[rb] = ra
	} else {
		u.parent[ra] = rb
	}
	return true
}
