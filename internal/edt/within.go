package edt

import "math"

// Within3Box is Transform3Box for a binary f (0 at feature voxels, Inf
// elsewhere) when only distances up to maxMM matter. A voxel of the block
// lo…hi whose nearest feature voxel in the block lies within maxMM gets the
// squared distance (mm²) that Transform3Box gives it; any other voxel gets
// more than maxMM² (Inf, or the squared distance to a farther feature
// voxel). The rest of f is left as it was.
//
// The lower envelope's cost per voxel does not depend on the distances;
// for distances of a few voxels a direct minimum is cheaper: a voxel
// within maxMM of a feature has that feature within maxMM/spacing voxels
// along each axis, so after the binary first pass along x the y and z
// passes take the minimum over that window only, row by row.
func Within3Box(f []float32, nx, ny, nz int, lo, hi [3]int, sp [3]float64, maxMM float64, ws *Workspace) {
	if ws == nil {
		ws = &Workspace{}
	}
	for a := 0; a < 3; a++ {
		lo[a] = max(lo[a], 0)
	}
	hi[0], hi[1], hi[2] = min(hi[0], nx-1), min(hi[1], ny-1), min(hi[2], nz-1)
	if hi[0] < lo[0] || hi[1] < lo[1] || hi[2] < lo[2] || !(maxMM >= 0) {
		return
	}
	w, h, d := hi[0]-lo[0]+1, hi[1]-lo[1]+1, hi[2]-lo[2]+1
	var reach [3]int
	for a := 0; a < 3; a++ {
		reach[a] = int(math.Floor(maxMM/sp[a] + 1e-9))
	}
	// x: the distance along the row to the nearest feature, as binaryLine
	// gives it; a row without one stays Inf, and the passes below skip it
	// (fin marks the block's rows, k·h + j, that hold a finite value).
	if cap(ws.fin) < h*d {
		ws.fin = make([]bool, h*d)
	}
	fin := ws.fin[:h*d]
	clear(fin)
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			start := lo[0] + nx*(j+ny*k)
			row := f[start : start+w]
			for _, x := range row {
				if x == 0 {
					binaryLine(row, float32(sp[0]))
					fin[(k-lo[2])*h+j-lo[1]] = true
					break
				}
			}
		}
	}
	// y, then z. Each row of f becomes the minimum over the window of
	// rows, as they were before the pass, plus the squared offset, added as
	// line1 adds it (d·d + value, d = offset × spacing). The rows before
	// the pass are copies: of one slice for y; for z, a ring of the 2r+1
	// slices around the one being changed, each copied before it changes.
	m := 2*reach[2] + 1
	if cap(ws.tmp) < (m+1)*w*h {
		ws.tmp = make([]float32, (m+1)*w*h)
	}
	slice := func(s int) []float32 { return ws.tmp[s*w*h:][:w*h] }
	fRow := func(j, k int) []float32 { return f[lo[0]+nx*(lo[1]+j+ny*(lo[2]+k)):][:w] }
	save := func(dst []float32, k int) {
		for j := 0; j < h; j++ {
			copy(dst[j*w:(j+1)*w], fRow(j, k))
		}
	}
	if cap(ws.fin2) < h*d {
		ws.fin2 = make([]bool, h*d)
	}
	fin2 := ws.fin2[:h*d] // rows finite after the y pass
	one := slice(m)
	for k := 0; k < d; k++ {
		save(one, k)
		for j := 0; j < h; j++ {
			fin2[k*h+j] = fin[k*h+j]
			for o := max(-reach[1], -j); o <= min(reach[1], h-1-j); o++ {
				if o != 0 && fin[k*h+j+o] {
					minRow(fRow(j, k), one[(j+o)*w:(j+o+1)*w], float32(o)*float32(sp[1]))
					fin2[k*h+j] = true
				}
			}
		}
	}
	for k := 0; k < min(reach[2], d); k++ {
		save(slice(k%m), k)
	}
	for k := 0; k < d; k++ {
		if k+reach[2] < d {
			save(slice((k+reach[2])%m), k+reach[2])
		}
		for o := max(-reach[2], -k); o <= min(reach[2], d-1-k); o++ {
			if o == 0 {
				continue
			}
			src := slice((k + o) % m)
			for j := 0; j < h; j++ {
				if fin2[(k+o)*h+j] {
					minRow(fRow(j, k), src[j*w:(j+1)*w], float32(o)*float32(sp[2]))
				}
			}
		}
	}
}

// minRow lowers each dst[i] to src[i] + dd·dd where that is smaller.
func minRow(dst, src []float32, dd float32) {
	c := dd * dd
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = min(dst[i], v+c)
	}
}
