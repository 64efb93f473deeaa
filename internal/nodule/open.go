package nodule

import (
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/edt"
	"github.com/lungctl/lungctl/internal/volume"
)

// Shell analysis limits (mm): strands are followed up to 1.2 inscribed
// radii beyond the body's 1.5 mm rim (at least 5 mm, at most 15 mm), far
// enough that a spicule ends inside the shell while a vessel passing by runs
// on out of it.
const (
	minShellMM = 5
	maxShellMM = 15
)

// bodyOpenFrac is the opening's radius as a fraction of the lesion's
// inscribed radius (at least 1 mm, at most 4): a quarter cuts vessels and
// pleural tags off a solid lesion while its lobes and spicules' roots stay.
const bodyOpenFrac = 0.25

// groundGlassOpenFrac is the wider opening's fraction with which a lesion
// is measured from its ground glass a second time (groundGlassBody). At a
// ground-glass threshold (about −730 HU in −850 HU lung) the blurred skirt
// of a vessel beside the lesion is of the lesion's own density and 3–4 mm
// wide, so the region runs along the vessel, and a quarter of a 10 mm
// lesion's inscribed radius (1.1–1.3 mm) leaves it joined; half of it cuts
// the skirt, and the dilation back restores the lesion's soft, round
// margin (TestGroundGlassBesideVessel).
const groundGlassOpenFrac = 0.5

// open cuts C into the lesion body O (label lBody), as the package
// comment describes, with an opening of frac of the inscribed radius
// (bodyOpenFrac, or groundGlassOpenFrac). With dense > 0 the
// opening is taken of C's voxels below dense (smoothed HU) only, and the
// denser voxels of C join the body where they lie within the opening
// radius of its eroded core: a vessel through ground glass stays part of
// the lesion where it runs inside it, and does not hold the opening open
// beyond it (groundGlassBody).
func (ws *Workspace) open(b *boxInfo, seed int, hint float64, res *Result, dense float32, frac float64) error {
	n := b.len()
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := [3]float64(b.grid.Spacing)
	// Distance from every voxel of C to the nearest voxel outside C.
	ws.dist = grow(ws.dist, n)
	inC := func(p int) bool { return ws.lab[p] == lC && (dense == 0 || ws.sm.Data[p] < dense) }
	for p := 0; p < n; p++ {
		if inC(p) {
			ws.dist[p] = edt.Inf
		} else {
			ws.dist[p] = 0
		}
	}
	clo, chi := ws.bbox(b, lC, 1)
	edt.Transform3Box(ws.dist, nx, ny, nz, clo, chi, sp, &ws.edt)
	// The lesion's inscribed radius: the deepest voxel of C near the seed.
	reach := math.Max(3, hint/2)
	deep, deepD := seed, float32(0)
	lo, hi := b.ballBox(reach)
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				p := i + nx*(j+ny*k)
				if inC(p) && ws.dist[p] > deepD && b.distMM(i, j, k) <= reach {
					deep, deepD = p, ws.dist[p]
				}
			}
		}
	}
	rin := math.Sqrt(float64(deepD))
	ro := math.Min(math.Max(rin*frac, 1), 4)
	// A lesion thinner than the opening (a tiny or faint nodule) keeps its
	// whole region as the body.
	if rin <= ro+0.5 {
		ro = math.Max(rin-0.75, 0)
	}
	res.OpeningMM = ro
	// Eroded core: voxels of C deeper than ro; keep the component holding
	// the deepest voxel (26-connected, so diagonal necks do not split a
	// lesion's core).
	ws.dist2 = grow(ws.dist2, n)
	core := ws.dist2 // reused: 0 = core seed feature, Inf = not
	ws.floodCore(b, deep, ro, inC)
	// Distance from every voxel to the core; the body O is C within ro
	// (plus half a voxel) of it. Only distances up to that matter: the
	// bounded transform gives them exactly, and more beyond.
	half := 0.5 * math.Min(sp[0], math.Min(sp[1], sp[2]))
	edt.Within3Box(core, nx, ny, nz, clo, chi, sp, ro+half, &ws.edt)
	bodyR := float32((ro + half) * (ro + half))
	var body int
	for p := 0; p < n; p++ {
		if ws.lab[p] != lC {
			continue
		}
		if core[p] <= bodyR {
			ws.lab[p] = lBody
			body++
		} else {
			ws.lab[p] = lOut
		}
	}
	// A vessel left on a solid region by the opening is cut off it, on
	// thin slices; a ground-glass region's vessels run through it and are
	// part of how it is measured (groundGlassBody).
	if dense == 0 && b.thin && b.thresh >= vesselCutMinHU {
		body -= ws.cutVessels(b, deep, rin, ro, half, clo, chi)
	}
	if body == 0 {
		return fmt.Errorf("%w: empty body after opening", ErrNoLesion)
	}
	// A body smaller than a coreMinMM ball (4.2 mm³) is a few voxels of
	// noise or a vessel's cross-section, not a lesion that can be
	// measured: LUNA16 and Lung-RADS report nothing under 3 mm.
	if v := float64(body) * sp[0] * sp[1] * sp[2]; v < math.Pi/6*coreMinMM*coreMinMM*coreMinMM {
		return fmt.Errorf("%w: body of %.1f mm³ is smaller than a %g mm ball", ErrNoLesion, v, float64(coreMinMM))
	}
	// On a coarse grid (--spacing 2: 8 mm³ a voxel) one voxel passes that,
	// but has no shape: its sphericity, roundness and wall contact are the
	// grid's, and such single voxels scored 0.55–0.73 on LIDC-IDRI-0001.
	if body < 2 {
		return fmt.Errorf("%w: body of a single voxel", ErrNoLesion)
	}
	res.shell = math.Min(math.Max(1.2*rin, minShellMM), maxShellMM)
	res.bodyR = ro + half
	return nil
}

// vesselOpenFracs are the widened openings, as fractions of the lesion's
// inscribed radius (each at most maxVesselOpenMM), that cutVessels tries
// in turn: a ball opened by a smaller ball keeps all of itself, so what a
// wider opening takes off a nodule is its surface's finest detail, while a
// vessel along its side, thinner than the nodule, goes whole once the
// opening is wider than the vessel.
var vesselOpenFracs = [...]float64{0.4, 0.5, 0.6, 0.7, 0.8, 0.9}

// maxVesselOpenMM caps those openings, as the body's opening is capped.
const maxVesselOpenMM = 4

// compactReach is how far (mm) from its deepest voxel a compact body
// reaches, at most, for an inscribed radius rin (mm): one and a half
// times it, or 2 mm more. A ball reaches rin, a lobulated nodule (lobes of
// up to 30 %) or an ovoid one of 1.5 : 1 about 1.5 rin; a nodule that
// holds a vessel reaches as far as the vessel runs in the region.
func compactReach(rin float64) float64 { return math.Max(1.5*rin, rin+2) }

// vesselMaxRatio is the thickest a vessel cut off a nodule may be, as its
// inscribed radius over the nodule's. Where vessels meet, or a thinner
// branch leaves a thicker one, the junction is a compact blob once the
// branches are cut, and it then scores like a nodule: on the
// juxtavascular phantoms (seeds 1601–1620) such junctions' branches
// measured 0.5–0.9 of the junction's radius, most above 0.7. With 0.7,
// seeds 101–120 lost CPM to a new false positive (0.921 → 0.919) while
// the juxtavascular seeds gained (0.743 with 0.6 → 0.750); with 0.6,
// 101–120 keeps 0.921 and 401–420 goes 0.927 → 0.929.
const vesselMaxRatio = 0.6

// vesselCutMaxSliceMM is the widest slice profile (mm, sliceWidth: the
// larger of the slice spacing and thickness) on which cutVessels runs. On thicker
// slices the slab averages a vessel crossing it into a blob, and a
// junction cut free of its branches scored like a nodule: on A0002 (8 mm
// slices) one by the hilum rose from 0.015 to 0.156, to rank 2.
const vesselCutMaxSliceMM = 2.5

// vesselCutMinHU is the least region threshold (HU, smoothed) at which
// cutVessels runs: a solid region's (halfway from the lung to a soft-tissue
// core is about −450 HU). Ground glass is segmented lower, and the vessels
// in it are measured with it.
const vesselCutMinHU = -550

// vesselCapMM is how near (mm) a vessel's piece must come to the region's
// reach from the seed (boxInfo.cap): a vessel runs on out of the region,
// an ovoid nodule's or a lobe's tip, trimmed by the wider opening, ends
// inside it.
const vesselCapMM = 1.5

// vesselReachMM is the least distance (mm) beyond the widely opened body
// that a thin piece must reach to be a vessel (see cutVessels).
const vesselReachMM = 1.5

// cutVessels takes off the body (label lBody, C opened with radius ro) a
// vessel that the opening left on it. A nodule against a vessel as thick
// as the opening (1–3 mm radius on patients' scans; a quarter of a small
// nodule's inscribed radius rin is 1 mm) keeps it, runs along it, and is
// measured long, flat and low in roundness, so that it ranks like a vessel
// fork. When the body is not compact (it reaches beyond compactReach from
// the deepest voxel deep), the opening is widened step by step
// (vesselOpenFracs) until the opened core's body B1 is compact. A
// connected piece of the rest (26-neighbours) is a vessel when it is thin
// (no voxel of it deeper in C than the opening: a second lobe or lesion
// joined by a neck is not), reaches farther from deep than B1 does, by
// vesselReachMM or half of rin (a lobe's tip or a trimmed edge stays
// within that), and runs on to the region's reach (vesselCapMM: an ovoid
// nodule's tip does not). The vessel leaves the body when it is the only
// one and thinner than vesselMaxRatio of rin where it runs beyond B1: a
// vessel beside a nodule or ending in it. Several, or one as thick, is where
// vessels meet (a vessel through a nodule's middle stays too). No opening
// making the body compact (an ovoid or tubular lesion, or a vessel as
// thick as the nodule) leaves it as it is. It returns the number of
// voxels taken off. ws.dist must hold C's squared distance transform
// (mm²), as open leaves it; clo…chi bound C (box indices).
func (ws *Workspace) cutVessels(b *boxInfo, deep int, rin, ro, half float64, clo, chi [3]int) int {
	n := b.len()
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	at := volume.Vec3{float64(deep % nx), float64((deep / nx) % ny), float64(deep / (nx * ny))}
	reachOf := func(p int) float64 { return b.distFrom(at, p%nx, (p/nx)%ny, p/(nx*ny)) }
	bound := compactReach(rin)
	var r0 float64
	for p := 0; p < n; p++ {
		if ws.lab[p] == lBody {
			r0 = math.Max(r0, reachOf(p))
		}
	}
	if r0 <= bound {
		return 0
	}
	core := ws.dist2
	var ro1, r1 float64
	var in1 float32
	found := false
	for _, f := range vesselOpenFracs {
		ro1 = math.Min(f*rin, maxVesselOpenMM)
		if ro1 < ro+half {
			continue
		}
		in1, r1 = ws.openedCore(b, deep, ro1, half, clo, chi, reachOf)
		if r1 <= bound {
			found = true
			break
		}
		if ro1 >= maxVesselOpenMM {
			break
		}
	}
	if !found {
		return 0
	}
	ro12 := float32(ro1 * ro1)
	far := r1 + math.Max(vesselReachMM, rin/2)
	maxThick := float32(vesselMaxRatio * vesselMaxRatio * rin * rin)
	// The rest, piece by piece; a visited voxel's core distance becomes
	// −1 so that it is neither in B1's test nor visited again. The one
	// vessel's voxels are kept in ws.vessel.
	ws.vessel = ws.vessel[:0]
	vessels := 0
	for p0 := 0; p0 < n; p0++ {
		if ws.lab[p0] != lBody || core[p0] <= in1 {
			continue
		}
		core[p0] = -1
		q := append(ws.queue[:0], int32(p0))
		thin, reach, out, thick := true, 0.0, 0.0, float32(0)
		for h := 0; h < len(q); h++ {
			x := int(q[h])
			if ws.dist[x] > ro12 {
				thin = false
			}
			rx := reachOf(x)
			reach = math.Max(reach, rx)
			out = math.Max(out, b.distMM(x%nx, (x/nx)%ny, x/(nx*ny)))
			if rx > r1+vesselReachMM {
				thick = max(thick, ws.dist[x])
			}
			for _, np := range neighbours26(x, nx, ny, nz) {
				if np >= 0 && ws.lab[np] == lBody && core[np] > in1 {
					core[np] = -1
					q = append(q, int32(np))
				}
			}
		}
		ws.queue = q
		if !thin || reach <= far || out < b.cap-vesselCapMM {
			continue
		}
		vessels++
		if vessels > 1 || thick > maxThick {
			return 0
		}
		ws.vessel = append(ws.vessel, q...)
	}
	for _, x := range ws.vessel {
		ws.lab[x] = lOut
	}
	return len(ws.vessel)
}

// openedCore leaves in ws.dist2 the squared distance (mm², exact up to
// ro1 + half) of every box voxel to the body's core opened at ro1: the
// body's voxels deeper in C than ro1 (ws.dist) connected to deep
// (26-neighbours). It returns the squared radius in1 within which a body
// voxel belongs to that opened body B1, and how far B1 reaches (reachOf,
// mm).
func (ws *Workspace) openedCore(b *boxInfo, deep int, ro1, half float64, clo, chi [3]int, reachOf func(int) float64) (in1 float32, r1 float64) {
	n := b.len()
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	core := ws.dist2
	ws.floodCore(b, deep, ro1, func(p int) bool { return ws.lab[p] == lBody })
	edt.Within3Box(core, nx, ny, nz, clo, chi, [3]float64(b.grid.Spacing), ro1+half, &ws.edt)
	in1 = float32((ro1 + half) * (ro1 + half))
	for p := 0; p < n; p++ {
		if ws.lab[p] == lBody && core[p] <= in1 {
			r1 = math.Max(r1, reachOf(p))
		}
	}
	return in1, r1
}

// floodCore sets ws.dist2 (of the box's length) to 0 on the voxels that in
// takes and that lie deeper than r mm in C (ws.dist, squared mm), connected
// to deep (26-neighbours, so diagonal necks do not split a core), and to
// edt.Inf elsewhere: the feature voxels of the core eroded by r.
func (ws *Workspace) floodCore(b *boxInfo, deep int, r float64, in func(p int) bool) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	core := ws.dist2[:b.len()]
	for p := range core {
		core[p] = edt.Inf
	}
	r2 := float32(r * r)
	q := append(ws.queue[:0], int32(deep))
	core[deep] = 0
	for h := 0; h < len(q); h++ {
		for _, np := range neighbours26(int(q[h]), nx, ny, nz) {
			if np >= 0 && core[np] != 0 && in(np) && ws.dist[np] > r2 {
				core[np] = 0
				q = append(q, int32(np))
			}
		}
	}
	ws.queue = q
}
