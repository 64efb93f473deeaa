package nodule

import (
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/edt"
)

// MarginMM is how far beyond the opened body the lesion's margin S reaches
// (mm): spicules and strands longer than this are cut at this length.
const MarginMM = 6

// open cuts C into the lesion body O (label lBody) and its margin S \ O
// (label lMarg), as the package comment describes.
func (ws *Workspace) open(b *boxInfo, seed int, hint float64, res *Result) error {
	n := b.len()
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := [3]float64(b.grid.Spacing)
	// Distance from every voxel of C to the nearest voxel outside C.
	ws.dist = grow(ws.dist, n)
	for p := 0; p < n; p++ {
		if ws.lab[p] == lC {
			ws.dist[p] = edt.Inf
		} else {
			ws.dist[p] = 0
		}
	}
	edt.Transform3(ws.dist, nx, ny, nz, sp, &ws.edt)
	// The lesion's inscribed radius: the deepest voxel of C near the seed.
	reach := math.Max(3, hint/2)
	deep, deepD := seed, float32(0)
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				p := i + nx*(j+ny*k)
				if ws.lab[p] == lC && ws.dist[p] > deepD && b.distMM(i, j, k) <= reach {
					deep, deepD = p, ws.dist[p]
				}
			}
		}
	}
	rin := math.Sqrt(float64(deepD))
	ro := math.Min(math.Max(rin/4, 1), 4)
	// A lesion thinner than the opening (a tiny or faint nodule) keeps its
	// whole region as the body.
	if rin <= ro+0.5 {
		ro = math.Max(rin-0.75, 0)
	}
	res.OpeningMM = ro
	// Eroded core: voxels of C deeper than ro; keep the component holding
	// the deepest voxel (26-connected, so diagonal necks do not split a
	// lesion's core).
	ro2 := float32(ro * ro)
	ws.dist2 = grow(ws.dist2, n)
	core := ws.dist2 // reused: 0 = core seed feature, Inf = not
	for p := 0; p < n; p++ {
		core[p] = edt.Inf
	}
	q := append(ws.queue[:0], int32(deep))
	core[deep] = 0
	for h := 0; h < len(q); h++ {
		p := int(q[h])
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		for dk := -1; dk <= 1; dk++ {
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					a, c, e := i+di, j+dj, k+dk
					if a < 0 || c < 0 || e < 0 || a >= nx || c >= ny || e >= nz {
						continue
					}
					np := a + nx*(c+ny*e)
					if core[np] != 0 && ws.lab[np] == lC && ws.dist[np] > ro2 {
						core[np] = 0
						q = append(q, int32(np))
					}
				}
			}
		}
	}
	ws.queue = q
	// Distance from every voxel to the core; O = C within ro (+ half a
	// voxel) of it, S = C within ro + MarginMM.
	edt.Transform3(core, nx, ny, nz, sp, &ws.edt)
	half := 0.5 * math.Min(sp[0], math.Min(sp[1], sp[2]))
	bodyR := float32((ro + half) * (ro + half))
	margR := float32((ro + MarginMM) * (ro + MarginMM))
	var body int
	for p := 0; p < n; p++ {
		if ws.lab[p] != lC {
			continue
		}
		switch {
		case core[p] <= bodyR:
			ws.lab[p] = lBody
			body++
		case core[p] <= margR:
			ws.lab[p] = lMarg
		}
	}
	if body == 0 {
		return fmt.Errorf("%w: empty body after opening", ErrNoLesion)
	}
	// C voxels beyond the margin are dropped; margin voxels must connect
	// to the body through the margin (a neighbouring vessel that only
	// comes within MarginMM is not part of the lesion).
	ws.keepConnectedMargin(b)
	return nil
}

// keepConnectedMargin relabels lOut every lC voxel and every margin voxel
// not 6-connected to the body through margin voxels.
func (ws *Workspace) keepConnectedMargin(b *boxInfo) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	n := b.len()
	q := ws.queue[:0]
	for p := 0; p < n; p++ {
		switch ws.lab[p] {
		case lBody:
			q = append(q, int32(p))
		case lC:
			ws.lab[p] = lOut
		}
	}
	const reached = 4
	for h := 0; h < len(q); h++ {
		p := int(q[h])
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		visit := func(np int) {
			if ws.lab[np] == lMarg {
				ws.lab[np] = reached
				q = append(q, int32(np))
			}
		}
		if i > 0 {
			visit(p - 1)
		}
		if i < nx-1 {
			visit(p + 1)
		}
		if j > 0 {
			visit(p - nx)
		}
		if j < ny-1 {
			visit(p + nx)
		}
		if k > 0 {
			visit(p - nx*ny)
		}
		if k < nz-1 {
			visit(p + nx*ny)
		}
	}
	ws.queue = q
	for p := 0; p < n; p++ {
		switch ws.lab[p] {
		case reached:
			ws.lab[p] = lMarg
		case lMarg:
			ws.lab[p] = lOut
		}
	}
}
