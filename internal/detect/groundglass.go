package detect

import (
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// The ground-glass look finds ground-glass lesions that vessels hide from
// the mean-shift. A ground-glass nodule stands 150–400 HU over the lung; a
// vessel that crosses it, or runs beside it, is denser still. The
// mean-shift's points at ground-glass density then join the vessel's, the
// cluster ranks among vessel pieces, and its strongest blob point lies on
// the vessel: segmented there, the lesion is the vessel tree (phantom
// seeds 501–520: six ground-glass and part-solid lesions of 5.7–12.7 mm
// had no candidate at any rank; phantom 503's 12.7 mm one ranked 41st, its
// blob point on a vessel 12 mm away).
//
// What tells the lesion from the vessels is its width. So the look reads
// the lung on cells of about ggCellMM with the HU clipped at ggCeilHU (a
// vessel crossing the lesion then adds no more than the lesion's own
// density), and opens that image with a cube of ggOpenCells cells: what is
// narrower than the cube in any direction (vessels, fissures, the
// pleura's partial-volume rim) falls to the lung around it, and a lesion
// as wide as the cube keeps its density. A local maximum of the opened
// image that stands ggMinContrastHU over the lung around it and whose
// region, at half its height, closes within ggReachMM is segmented at
// that region's centroid (nodule.Segment, which measures the ground glass apart from the vessels
// crossing it); a non-solid or part-solid lesion that is not long
// (ggMaxElongation) is added, or raises the score of the candidate that
// holds it, as the other looks do.
//
// The constants below were chosen on whole runs of phantom seeds 1–20,
// 101–120, 401–420 and 501–520 (CPM): each alternative tried is named
// with its constant.

// ggCellMM is the look's cell (mm): two 1 mm voxels, so that a 5 mm
// ground-glass nodule still holds whole cells.
const ggCellMM = 2.0

// ggCeilHU is where the look clips the HU: the densest ground glass
// (a part-solid lesion's solid core starts near −300 HU); solid tissue
// and vessels read as that. −450 lost CPM on 501–520 and 101–120 (0.866
// → 0.862, 0.920 → 0.919).
const ggCeilHU = -350

// ggOpenCells is the opening's cube, in cells: 4 mm, wider than the
// peripheral vessels that cross ground-glass lesions (1–3 mm). 6 mm lost
// small lesions (CPM 501–520 0.866 → 0.861, 101–120 0.920 → 0.914).
const ggOpenCells = 2

// ggReachMM is how far (mm) from a maximum the lung around it is read, and
// how far from its own centroid its half-height region may reach (the
// flood itself may run twice as far from the maximum, see maxima): lesions
// to about 20 mm (larger ones the mean-shift's coarse levels find). 15 mm:
// 501–520 0.866 → 0.864, 101–120 0.920 → 0.917.
const ggReachMM = 10.0

// ggMinContrastHU is the least height of a maximum of the opened image over
// the lung around it (the median on the ggReachMM sphere): the faint end of
// the ground glass the segmentation types as such. 100 HU changed no list
// of the four sets.
const ggMinContrastHU = 150

// ggMaxBlobs is how many maxima, strongest first, are segmented: 20 found
// every lesion 30 found on the four sets where the look moved the CPM
// (1–20, 101–120 on 2.5 and 1.25 mm slices, 501–520; same CPMs) with
// fewer false positives and in less time; 15 lost a part-solid lesion of
// seeds 1–20 (CPM 0.942 → 0.938); 60 added false positives (1–20 0.939,
// 501–520 0.864).
const ggMaxBlobs = 20

// ggAloneBlobs is how many more maxima, strongest first, are segmented
// from the image of the ground glass alone: voxels denser than ggCeilHU
// count as outside the lung instead of as ggCeilHU, and maxima within
// reach of one already taken (appendApart) are passed over. On a patient's
// scan, hilar and lobar vessels are wider than the opening's cube: clipped
// at ggCeilHU they stand 450–500 HU over the lung and fill the look's
// twenty places before a ground-glass lesion 250 HU over it, and a lesion
// against such a vessel has a half-height region that runs along the
// vessel and does not close. With the dense voxels left out, a vessel
// leaves only its partial-volume rim, which the opening removes, and the
// lesion stands alone. Found on lesions injected into LIDC-IDRI-0001
// (scripts/inject-lesions.py; a 10 mm ground-glass ball 265 HU over the
// lung, against a vessel, had no candidate; its cluster ranked 92nd of 302
// in the first stage). Five: ten found one more part-solid lesion of seeds
// 501–520 (at rank 8, score 0.01) and cost 5 more segmentations a scan
// (about 30 ms of a LIDC-IDRI-0001 run); the lesions injected into
// LIDC-IDRI-0001 are found the same with either. Taken alone instead of
// the clipped look (tried in the fifteenth session) this image lost CPM on
// seeds 101–120 (0.920 → 0.913); as an addition it changes no phantom
// set's list but 501–520's.
const ggAloneBlobs = 5

// appendApart appends to kept at most ggAloneBlobs of more (strongest
// first) that lie apart from every blob of kept: farther than the two
// radii and a cell.
func appendApart(kept, more []ggBlob) []ggBlob {
	n := ggAloneBlobs
	k := len(kept)
	for _, b := range more {
		if len(kept)-k >= n {
			break
		}
		apart := true
		for _, a := range kept[:k] {
			if dist3(a.World, b.World) < a.RadiusMM+b.RadiusMM+ggCellMM {
				apart = false
				break
			}
		}
		if apart {
			kept = append(kept, b)
		}
	}
	return kept
}

// ggMaxElongation is the longest (long over short axis) a lesion the look
// adds may be: ground-glass lesions are round to oval (phantom ground-glass
// and part-solid lesions found on seeds 1–20, 101–120, 401–420, 501–520:
// at most 1.9, one tangled part-solid 2.2), a vessel's piece is long.
const ggMaxElongation = 2.0

// ggBlob is one maximum of the opened image: World, its half-height
// region's centroid (LPS mm), its opened HU (Peak) and the lung's around
// it, and the region's size (voxels) and volume-equivalent radius (mm).
type ggBlob struct {
	World      [3]float64
	Peak, Lung float64
	Voxels     int
	RadiusMM   float64
}

// ggWork holds the look's cell images, reused between runs.
type ggWork struct {
	cells, open, tmp []float32
	lungCells        []uint16   // lung voxels per cell
	denseCells       []uint16   // of them, those denser than ggCeilHU
	sc               isoScratch // region's flood (regionOf)
	shell            []float64
}

// ggGrid is the look's cells over the crop: f voxels per cell along each
// axis, m cells, cs the cell's size (mm) and per its voxel count.
type ggGrid struct {
	f, m [3]int
	cs   [3]float64
	per  int
}

// groundGlassBlobs returns the maxima of the crop's opened ground-glass
// image that pass the look's tests (see above), strongest first (ggStrength),
// at most ggMaxBlobs, one per region, and those of the image of the ground
// glass alone, where voxels denser than ggCeilHU count as outside the lung
// instead of as ggCeilHU (see ggAloneBlobs). lung is the whole scan's mask
// (ws.lo is the crop's first voxel in it). Both images come from one pass
// over the crop.
func (ws *Workspace) groundGlassBlobs(lung *volume.Volume[uint8]) (clipped, alone []ggBlob) {
	crop := ws.crop
	var gd ggGrid
	for a := 0; a < 3; a++ {
		gd.f[a] = max(1, int(math.Round(ggCellMM/crop.Spacing[a])))
		gd.m[a] = crop.Dims[a] / gd.f[a]
		gd.cs[a] = crop.Spacing[a] * float64(gd.f[a])
		if gd.m[a] < 3 {
			return nil, nil
		}
	}
	gd.per = gd.f[0] * gd.f[1] * gd.f[2]
	if gd.per > math.MaxUint16 {
		return nil, nil // a grid finer than 0.05 mm: no CT's
	}
	n := gd.m[0] * gd.m[1] * gd.m[2]
	g := &ws.gg
	g.cells, g.open, g.tmp = volume.Resize(g.cells, n), volume.Resize(g.open, n), volume.Resize(g.tmp, n)
	g.lungCells, g.denseCells = volume.Resize(g.lungCells, n), volume.Resize(g.denseCells, n)
	g.fill(crop, lung, ws.lo, gd)
	clipped = g.blobs(crop, gd)
	// The ground glass alone: each dense voxel's ggCeilHU becomes −1000.
	step := float32(1000+ggCeilHU) / float32(gd.per)
	for p, d := range g.denseCells {
		g.cells[p] -= step * float32(d)
	}
	return clipped, g.blobs(crop, gd)
}

// blobs opens the cell image g.cells and returns its maxima that pass the
// look's tests, strongest first (ggStrength), at most ggMaxBlobs.
func (g *ggWork) blobs(crop *volume.Volume[int16], gd ggGrid) []ggBlob {
	openCells(g.open, g.cells, g.tmp, gd.m, ggOpenCells)
	// Two maxima of one plateau are one blob.
	return strongestFirst(g.maxima(crop, gd), func(b *ggBlob) (float64, [3]float64, float64) {
		return ggStrength(b), b.World, b.RadiusMM
	}, 1.5*ggCellMM, ggMaxBlobs)
}

// ggStrength orders the look's maxima for its ggMaxBlobs places: the
// contrast over the lung (HU) times the square root of the half-height
// region's volume (as r^1.5, r its equivalent radius in mm), how far a
// matched filter lifts a uniform blob out of white noise. Ranked by
// contrast alone, a ground-glass lesion 10 mm across that the opening
// leaves 150 HU over the lung (its texture's thin places pulled down)
// came after twenty 3–4 mm remnants of vessels and specks 200–300 HU
// over it, and had no candidate at any rank (phantom 517 of seeds
// 501–520). The exponent is the filter's: a ranking by the excess (r^3)
// found the same lesions on seeds 1–20, 401–420 and 501–520.
func ggStrength(b *ggBlob) float64 {
	return (b.Peak - b.Lung) * math.Pow(b.RadiusMM, 1.5)
}

// fill makes the cell image (g.cells: the mean over each cell of the HU
// clipped at ggCeilHU in the lung, −1000 outside it) and counts each
// cell's lung voxels (g.lungCells) and those of them denser than ggCeilHU
// (g.denseCells); lung is the whole scan's mask, lo the crop's first voxel
// in it.
func (g *ggWork) fill(crop *volume.Volume[int16], lung *volume.Volume[uint8], lo [3]int, gd ggGrid) {
	f, m := gd.f, gd.m
	nx, ny := crop.Dims[0], crop.Dims[1]
	plane := m[0] * m[1]
	par.For(m[2], func(_, K int) {
		c, lc, dc := g.cells[K*plane:][:plane], g.lungCells[K*plane:][:plane], g.denseCells[K*plane:][:plane]
		clear(c)
		clear(lc)
		clear(dc)
		for k := K * f[2]; k < (K+1)*f[2]; k++ {
			for j := 0; j < m[1]*f[1]; j++ {
				row := crop.Data[nx*(j+ny*k):][:m[0]*f[0]]
				mrow := lung.Data[lung.Index(lo[0], lo[1]+j, lo[2]+k):][:m[0]*f[0]]
				cr, lr, dr := c[m[0]*(j/f[1]):][:m[0]], lc[m[0]*(j/f[1]):][:m[0]], dc[m[0]*(j/f[1]):][:m[0]]
				for i, v := range row {
					if mrow[i] != 0 {
						if v > ggCeilHU {
							cr[i/f[0]] += ggCeilHU
							dr[i/f[0]]++
						} else {
							cr[i/f[0]] += float32(v)
						}
						lr[i/f[0]]++
					} else {
						cr[i/f[0]] -= 1000
					}
				}
			}
		}
		for p := range c {
			c[p] /= float32(gd.per)
		}
	})
}

// maxima returns the local maxima of the opened image (g.open) that are
// mostly lung, stand ggMinContrastHU over the lung around them
// (surround) and whose region closes at half that height (region), at
// the region's centroid.
func (g *ggWork) maxima(crop *volume.Volume[int16], gd ggGrid) []ggBlob {
	f, m, cs, per := gd.f, gd.m, gd.cs, gd.per
	var reach [3]int
	for a := range reach {
		reach[a] = int(math.Ceil(2 * ggReachMM / cs[a]))
	}
	box := [3]int{2*reach[0] + 1, 2*reach[1] + 1, 2*reach[2] + 1}
	g.sc.stamp = volume.Resize(g.sc.stamp, box[0]*box[1]*box[2])
	clear(g.sc.stamp)
	g.sc.mark = 0
	// The opened image as a volume on the cells' own grid: a cell's centre
	// is the centre of its voxels.
	open := &volume.Volume[float32]{Grid: crop.Grid, Data: g.open}
	open.Dims, open.Spacing = m, volume.Vec3(cs)
	open.Origin = crop.IndexToWorld(volume.Vec3{float64(f[0]-1) / 2, float64(f[1]-1) / 2, float64(f[2]-1) / 2})
	// For speed, only cells half the least contrast over the whole lung's
	// median density are looked at: a lesion ggMinContrastHU over the lung
	// around it is passed over only where that lung lies more than half
	// of it under the whole lung's median (emphysema beside dense lung).
	floor := g.lungMedian(per) + ggMinContrastHU/2
	var out []ggBlob
	for K := 1; K < m[2]-1; K++ {
		for J := 1; J < m[1]-1; J++ {
			for I := 1; I < m[0]-1; I++ {
				p := I + m[0]*(J+m[1]*K)
				v := g.open[p]
				if 2*int(g.lungCells[p]) < per || v < floor || !cellMax(g.open, m, p) {
					continue
				}
				lungHU, ok := g.surround(I, J, K, m, cs, per)
				if !ok || float64(v)-lungHU < ggMinContrastHU {
					continue
				}
				// The region must close within ggReachMM of its own centroid:
				// the maximum cellMax picks is a corner of the plateau the
				// opening leaves, up to a cube's width off the lesion's
				// middle, so the flood may run twice as far from it.
				cnt, _, cen, closed := regionOf(&g.sc, open, I, J, K, float32(lungHU+0.5*(float64(v)-lungHU)), 2*ggReachMM, reach, box)
				if !closed || regionSpread(&g.sc, cnt, I, J, K, cen, open.Spacing, reach, box) > ggReachMM {
					continue
				}
				// The region's centroid: the opening leaves a plateau as wide
				// as its cube on a lesion's top.
				out = append(out, ggBlob{
					World: [3]float64(open.IndexToWorld(cen)), Peak: float64(v), Lung: lungHU,
					Voxels: cnt * per, RadiusMM: math.Cbrt(3 * float64(cnt) * cs[0] * cs[1] * cs[2] / (4 * math.Pi)),
				})
			}
		}
	}
	return out
}

// lungMedian is the median density of the cells wholly in the lung (per
// voxels), to the HU, from −1000 up; −1000 when there are none.
func (g *ggWork) lungMedian(per int) float32 {
	var hist [1001]int // HU −1000 … 0 (cells are clipped at ggCeilHU; less than −1000 counts as −1000)
	n := 0
	for p, c := range g.lungCells {
		if int(c) == per {
			hist[min(max(int(math.Round(float64(g.cells[p])))+1000, 0), len(hist)-1)]++
			n++
		}
	}
	for h, c := 0, 0; h < len(hist); h++ {
		if c += hist[h]; 2*c > n {
			return float32(h - 1000)
		}
	}
	return -1000
}

// cellMax reports whether cell p of s (dims m, not on the border) is a
// local maximum: above each of its 13 neighbours before it (in memory
// order) and at least each of the 13 after it, so that a plateau has one.
func cellMax(s []float32, m [3]int, p int) bool {
	v, nxy := s[p], m[0]*m[1]
	if s[p-1] >= v || s[p+1] > v || s[p-m[0]] >= v || s[p+m[0]] > v || s[p-nxy] >= v || s[p+nxy] > v {
		return false
	}
	for dk := -1; dk <= 1; dk++ {
		for dj := -1; dj <= 1; dj++ {
			for di := -1; di <= 1; di++ {
				o := di + m[0]*dj + nxy*dk
				if o < 0 && s[p+o] >= v || o > 0 && s[p+o] > v {
					return false
				}
			}
		}
	}
	return true
}

// surround is the lung level around cell (I, J, K): the median of the
// cells wholly in the lung (per voxels) on the ggReachMM sphere, read
// in 100 directions; ok is false when fewer than 30 are (a lung tip, the
// grid's edge).
func (g *ggWork) surround(I, J, K int, m [3]int, cs [3]float64, per int) (float64, bool) {
	g.shell = g.shell[:0]
	const nDirs = 100
	for r := 0; r < nDirs; r++ {
		u := nodule.Fibonacci(r, nDirs)
		a := [3]int{I + int(math.Round(ggReachMM*u[0]/cs[0])), J + int(math.Round(ggReachMM*u[1]/cs[1])), K + int(math.Round(ggReachMM*u[2]/cs[2]))}
		if a[0] < 0 || a[1] < 0 || a[2] < 0 || a[0] >= m[0] || a[1] >= m[1] || a[2] >= m[2] {
			continue
		}
		if q := a[0] + m[0]*(a[1]+m[1]*a[2]); int(g.lungCells[q]) == per {
			g.shell = append(g.shell, float64(g.cells[q]))
		}
	}
	if len(g.shell) < 30 {
		return 0, false
	}
	sort.Float64s(g.shell)
	return g.shell[len(g.shell)/2], true
}

// openCells writes into dst the grey-level opening of src (cells, dims m)
// by a w-cell cube: the erosion (the least over the cube [i, i+w−1] per
// axis; beyond the grid is air) then the dilation (the most over
// [i−w+1, i]). tmp is scratch of src's size.
func openCells(dst, src, tmp []float32, m [3]int, w int) {
	minMax1(tmp, src, m, 0, w, true)
	minMax1(dst, tmp, m, 1, w, true)
	minMax1(tmp, dst, m, 2, w, true)
	minMax1(dst, tmp, m, 0, w, false)
	minMax1(tmp, dst, m, 1, w, false)
	minMax1(dst, tmp, m, 2, w, false)
}

// minMax1 is one axis of openCells: out[i] is the least of in[i … i+w−1]
// along axis (erode; −1000 HU past the grid's end) or the most of
// in[i−w+1 … i].
func minMax1(out, in []float32, m [3]int, axis, w int, erode bool) {
	stride := [3]int{1, m[0], m[0] * m[1]}[axis]
	par.For(m[2], func(_, k int) {
		for j := 0; j < m[1]; j++ {
			for i := 0; i < m[0]; i++ {
				p := i + m[0]*(j+m[1]*k)
				x := [3]int{i, j, k}[axis]
				v := in[p]
				for d := 1; d < w; d++ {
					if erode {
						if x+d >= m[axis] {
							v = -1000
							break
						}
						v = min(v, in[p+d*stride])
					} else {
						if x-d < 0 {
							break
						}
						v = max(v, in[p-d*stride])
					}
				}
				out[p] = v
			}
		}
	})
}

// addGroundGlass segments the ground-glass look's blobs
// (groundGlassBlobs) and adds each non-solid or part-solid lesion no
// longer than ggMaxElongation to the candidates, as addBumps adds the
// pleural look's: one in a kept lesion raises that candidate's score to
// its own when higher, any other becomes a candidate. Its score is the
// second stage's (FinalScore), with the isolated look's score for its
// contrast in the first stage's place. The list is not ranked again here.
func (ws *Workspace) addGroundGlass(hu *volume.Volume[int16], lung *volume.Volume[uint8],
	cs []candidate.Candidate, meas []*nodule.Result, feats []Features, opt Options) ([]candidate.Candidate, []*nodule.Result, []Features) {
	blobs := appendApart(ws.groundGlassBlobs(lung))
	if len(blobs) == 0 {
		return cs, meas, feats
	}
	seg := ws.segmentLooks(hu, lung, len(blobs), func(i int) ([3]float64, float64) { return blobs[i].World, 2 * blobs[i].RadiusMM }, opt)
	for i, b := range blobs {
		m := seg[i]
		if m == nil || m.MeanDiameterMM < opt.MinDiameterMM || m.Type != nodule.NonSolid && m.Type != nodule.PartSolid ||
			m.LongAxisMM > ggMaxElongation*m.ShortAxisMM {
			continue
		}
		contrast := b.Peak - b.Lung
		cs, meas, feats = addLook(cs, meas, feats, opt, b.World, m.Centre, b.RadiusMM, b.Voxels, b.Peak, contrast, m, true,
			func(f *Features) { f.GroundGlass = math.Max(f.GroundGlass, contrast) })
	}
	return cs, meas, feats
}
