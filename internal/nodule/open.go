package nodule

import (
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/edt"
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
	ro2 := float32(ro * ro)
	ws.dist2 = grow(ws.dist2, n)
	core := ws.dist2 // reused: 0 = core seed feature, Inf = not
	for p := 0; p < n; p++ {
		core[p] = edt.Inf
	}
	q := append(ws.queue[:0], int32(deep))
	core[deep] = 0
	for h := 0; h < len(q); h++ {
		for _, np := range neighbours26(int(q[h]), nx, ny, nz) {
			if np >= 0 && core[np] != 0 && inC(np) && ws.dist[np] > ro2 {
				core[np] = 0
				q = append(q, int32(np))
			}
		}
	}
	ws.queue = q
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
