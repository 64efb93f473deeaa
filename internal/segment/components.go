package segment

import (
	"fmt"
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// airRun is a run of air voxels along i in row j of slice k: [i0, i1).
type airRun struct {
	j, i0, i1 int32
	sum       float64 // sum of HU over the run
}

// components labels the 6-connected air components, keeps the lungs and
// writes them into dst as 1 and 2 (one label per component). It works on
// runs along i: runs are extracted per slice in parallel, then joined with a
// union-find across rows and slices.
func (s *Segmenter) components(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8], st *Stats) error {
	s.extractRuns(hu)
	base, uf := s.joinRuns(hu.Dims[1], hu.Dims[2])
	comps := s.airComponents(base, uf)
	vox := hu.Spacing[0] * hu.Spacing[1] * hu.Spacing[2] / 1000
	clear(dst.Data)
	keep, err := pickLungs(comps, vox, opt)
	if err != nil {
		return err
	}
	for _, cp := range keep {
		st.ComponentsML = append(st.ComponentsML, float64(cp.size)*vox)
	}
	s.paintLungs(dst, keep, base, uf)
	return nil
}

// extractRuns fills s.runs[k] with slice k's runs of air voxels, row by
// row, and s.rowStart[k][j] with the index of row j's first run.
func (s *Segmenter) extractRuns(hu *volume.Volume[int16]) {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	if len(s.runs) < nz {
		s.runs = make([][]airRun, nz)
		s.rowStart = make([][]int32, nz)
	}
	par.For(nz, func(_, k int) {
		c := s.cls[k*nxy : (k+1)*nxy]
		h := hu.Data[k*nxy : (k+1)*nxy]
		runs := s.runs[k][:0]
		rs := s.rowStart[k]
		if len(rs) < ny+1 {
			rs = make([]int32, ny+1)
			s.rowStart[k] = rs
		}
		for j := 0; j < ny; j++ {
			rs[j] = int32(len(runs))
			row := c[j*nx : (j+1)*nx]
			hr := h[j*nx : (j+1)*nx]
			for i := 0; i < nx; i++ {
				if row[i] != cAir {
					continue
				}
				i0 := i
				var sum float64
				for i < nx && row[i] == cAir {
					sum += float64(hr[i])
					i++
				}
				runs = append(runs, airRun{int32(j), int32(i0), int32(i), sum})
			}
		}
		rs[ny] = int32(len(runs))
		s.runs[k] = runs
	})
}

// unionFind is a union-find over run numbers: each run's parent, a root
// its own; the smaller root wins a union.
type unionFind []int32

func (u unionFind) find(x int32) int32 {
	for u[x] != x {
		u[x] = u[u[x]]
		x = u[x]
	}
	return x
}

func (u unionFind) union(a, b int32) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		if ra < rb {
			u[rb] = ra
		} else {
			u[ra] = rb
		}
	}
}

// join unions overlapping runs of two sorted run lists, numbered from oa
// and ob.
func (u unionFind) join(ra []airRun, oa int32, rb []airRun, ob int32) {
	x, y := 0, 0
	for x < len(ra) && y < len(rb) {
		if ra[x].i0 < rb[y].i1 && rb[y].i0 < ra[x].i1 {
			u.union(oa+int32(x), ob+int32(y))
		}
		if ra[x].i1 < rb[y].i1 {
			x++
		} else {
			y++
		}
	}
}

// joinRuns numbers the runs of all slices globally (slice k's from
// base[k]) and unions the runs that touch along j and along k, in s.parent.
func (s *Segmenter) joinRuns(ny, nz int) (base []int32, uf unionFind) {
	base = make([]int32, nz+1)
	for k := 0; k < nz; k++ {
		base[k+1] = base[k] + int32(len(s.runs[k]))
	}
	total := int(base[nz])
	if cap(s.parent) < total {
		s.parent = make([]int32, total)
	}
	uf = unionFind(s.parent[:total])
	for r := range uf {
		uf[r] = int32(r)
	}
	for k := 0; k < nz; k++ {
		runs, rs := s.runs[k], s.rowStart[k]
		for j := 1; j < ny; j++ {
			uf.join(runs[rs[j]:rs[j+1]], base[k]+rs[j], runs[rs[j-1]:rs[j]], base[k]+rs[j-1])
		}
		if k > 0 {
			prev, ps := s.runs[k-1], s.rowStart[k-1]
			for j := 0; j < ny; j++ {
				uf.join(runs[rs[j]:rs[j+1]], base[k]+rs[j], prev[ps[j]:ps[j+1]], base[k-1]+ps[j])
			}
		}
	}
	return base, uf
}

// airComp is one air component: its union-find root, voxels and HU sum.
type airComp struct {
	root int32
	size int
	sum  float64 // sum of HU
}

// airComponents gathers the components, largest first, and compresses
// every run's path so that uf holds its root.
func (s *Segmenter) airComponents(base []int32, uf unionFind) []*airComp {
	byRoot := map[int32]*airComp{}
	var comps []*airComp
	for k := range len(base) - 1 {
		for x, r := range s.runs[k] {
			g := base[k] + int32(x)
			root := uf.find(g)
			uf[g] = root
			cp := byRoot[root]
			if cp == nil {
				cp = &airComp{root: root}
				byRoot[root] = cp
				comps = append(comps, cp)
			}
			cp.size += int(r.i1 - r.i0)
			cp.sum += r.sum
		}
	}
	sort.Slice(comps, func(a, b int) bool { return comps[a].size > comps[b].size })
	return comps
}

// pickLungs keeps the largest component (at least MinLungML, else
// ErrNoLungs) and a second lung: the next largest component that is big
// enough and is parenchyma, not pure air (bowel gas, air inside the table).
// vox is a voxel's volume in mL.
func pickLungs(comps []*airComp, vox float64, opt Options) ([]*airComp, error) {
	if len(comps) == 0 || float64(comps[0].size)*vox < opt.MinLungML {
		largest := 0.0
		if len(comps) > 0 {
			largest = float64(comps[0].size) * vox
		}
		return nil, fmt.Errorf("%w: largest air component %.1f mL", ErrNoLungs, largest)
	}
	keep := comps[:1]
	for _, cp := range comps[1:] {
		if float64(cp.size)*vox < opt.MinLungML || cp.size*20 < comps[0].size {
			break
		}
		if cp.sum/float64(cp.size) > maxPureAirHU {
			keep = append(keep[:1:1], cp)
			break
		}
	}
	return keep, nil
}

// paintLungs writes the kept components into dst as labels 1 and 2 (one
// component: split at the body midline) and their per-slice bounding boxes
// into s.boxes. uf must hold every run's root (see airComponents).
func (s *Segmenter) paintLungs(dst *volume.Volume[uint8], keep []*airComp, base []int32, uf unionFind) {
	nx, ny, nz := dst.Dims[0], dst.Dims[1], dst.Dims[2]
	nxy := nx * ny
	single := len(keep) == 1
	r1 := keep[0].root
	r2 := int32(-1)
	if !single {
		r2 = keep[1].root
	}
	if cap(s.boxes) < nz {
		s.boxes = make([][2]labelBox, nz)
	}
	s.boxes = s.boxes[:nz]
	par.For(nz, func(_, k int) {
		d := dst.Data[k*nxy : (k+1)*nxy]
		cx := s.cx[k]
		bx := &s.boxes[k]
		*bx = [2]labelBox{emptyBox(nx, ny), emptyBox(nx, ny)}
		for x, r := range s.runs[k] {
			root := uf[base[k]+int32(x)] // fully compressed by airComponents
			var l uint8
			switch root {
			case r1:
				l = 1
			case r2:
				l = 2
			default:
				continue
			}
			row := d[int(r.j)*nx:]
			for i := r.i0; i < r.i1; i++ {
				li := l
				// The lungs touch (or one is missing): split at the body
				// midline so that each side is closed on its own.
				if single && float64(i) > cx {
					li = 2
				}
				row[i] = li
			}
			j := int(r.j)
			if !single {
				bx[l-1].add(int(r.i0), j)
				bx[l-1].add(int(r.i1)-1, j)
				continue
			}
			for _, i := range [2]int32{r.i0, r.i1 - 1} {
				li := 1
				if float64(i) > cx {
					li = 2
				}
				bx[li-1].add(int(i), j)
			}
			// A run across the midline has both labels at its inner ends.
			if float64(r.i0) <= cx && float64(r.i1-1) > cx {
				m := int(math.Floor(cx))
				bx[0].add(m, j)
				bx[1].add(m+1, j)
			}
		}
	})
}

// labelBox is the bounding box of one lung label in one slice (i1 < 0:
// empty).
type labelBox struct{ i0, i1, j0, j1 int }

func emptyBox(nx, ny int) labelBox { return labelBox{nx, -1, ny, -1} }

func (b *labelBox) add(i, j int) {
	b.i0, b.i1 = min(b.i0, i), max(b.i1, i)
	b.j0, b.j1 = min(b.j0, j), max(b.j1, j)
}
