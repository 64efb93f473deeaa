package nodule

import "github.com/lungctl/lungctl/internal/volume"

// The region grown from the seed within the cap (region), and the cap's
// tests on it: CapFilled (the lesion is larger than its hint) and the
// re-centring of a region the cap cuts on one side (regionCentroid).

// recentreFrac is how far (as a fraction of the cap's radius) the
// centroid of a region cut by its cap must lie from the seed for Segment
// to start again from the centroid.
const recentreFrac = 0.2

// regionCentroid returns the LPS centroid (mm) of the region just grown
// (voxels labelled lC).
func (ws *Workspace) regionCentroid(b *boxInfo) [3]float64 {
	nx, ny := b.n[0], b.n[1]
	var s [3]float64
	n := 0
	for p, l := range ws.lab {
		if l == lC {
			s[0] += float64(p % nx)
			s[1] += float64((p / nx) % ny)
			s[2] += float64(p / (nx * ny))
			n++
		}
	}
	if n == 0 {
		return [3]float64(b.grid.IndexToWorld(b.seed))
	}
	f := float64(n)
	return [3]float64(b.grid.IndexToWorld(volume.Vec3{s[0] / f, s[1] / f, s[2] / f}))
}

// CapFilled is the fraction of the cap's surface shell, and of its volume,
// that the region must fill for the lesion to count as larger than its
// hint.
const CapFilled = 0.3

// region labels lC the 6-connected voxels above the threshold, inside the
// lung and within b.cap mm of the seed that are connected to seed, and
// returns the fractions of the cap's outermost millimetre and of its whole
// ball (lung voxels there) that the region reached.
func (ws *Workspace) region(b *boxInfo, seed int) (surface, volume float64) {
	clear(ws.lab)
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	q := append(ws.queue[:0], int32(seed))
	ws.lab[seed] = lC
	for h := 0; h < len(q); h++ {
		p := int(q[h])
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		try := func(np, a, c, e int) {
			if ws.lab[np] == lOut && ws.lung[np] != 0 && ws.sm.Data[np] > b.thresh && b.distMM(a, c, e) <= b.cap {
				ws.lab[np] = lC
				q = append(q, int32(np))
			}
		}
		if i > 0 {
			try(p-1, i-1, j, k)
		}
		if i < nx-1 {
			try(p+1, i+1, j, k)
		}
		if j > 0 {
			try(p-nx, i, j-1, k)
		}
		if j < ny-1 {
			try(p+nx, i, j+1, k)
		}
		if k > 0 {
			try(p-nx*ny, i, j, k-1)
		}
		if k < nz-1 {
			try(p+nx*ny, i, j, k+1)
		}
	}
	ws.queue = q
	var shell, filled, ball, in int
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				p := i + nx*(j+ny*k)
				d := b.distMM(i, j, k)
				if d > b.cap || ws.lung[p] == 0 {
					continue
				}
				ball++
				if ws.lab[p] == lC {
					in++
				}
				if d > b.cap-1 {
					shell++
					if ws.lab[p] == lC {
						filled++
					}
				}
			}
		}
	}
	if shell == 0 || ball == 0 {
		return 0, 0
	}
	return float64(filled) / float64(shell), float64(in) / float64(ball)
}
