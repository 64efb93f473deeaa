package nodule

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/lidc"
	"github.com/lungctl/lungctl/internal/psf"
	"github.com/lungctl/lungctl/internal/resample"
	"github.com/lungctl/lungctl/internal/segment"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestLIDC0001AgainstReaders segments the LIDC-IDRI-0001 nodule from the
// LUNA16 centre and compares it with the four readers' 50 % consensus from
// 069.xml (internal/lidc): the characterisation issue's targets are a solid
// type, a mean diameter within 15 % of LUNA16's 23.35 mm, a volume within
// 25 % of the consensus volume, and spiculation flagged (readers: 4, 5, 3, 5).
func TestLIDC0001AgainstReaders(t *testing.T) {
	dir := shareddata.Dir(t, "lidc-idri-0001")
	scan, err := dicomio.Load(dir, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	xml, err := lidc.FindXML(filepath.Dir(scan.Info.Files[0]), scan.Info.UID)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := lidc.ParseFile(xml)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := lidc.Analyze(msg, lidc.Geometry{Grid: scan.HU.Grid, Positions: scan.Positions}, lidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(truth.Nodules) != 1 {
		t.Fatalf("%d consensus nodules, want 1", len(truth.Nodules))
	}
	cons := truth.Nodules[0]
	hu, lung := lidc0001Grid(t, scan)
	r, err := Segment(hu, lung, [3]float64{56.21, 86.34, -115.87}, 23.35, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Dice against the consensus, counted on the source grid: a consensus
	// voxel is in ours when its centre falls in our mask.
	src := cons.Mask.Grid(scan.HU.Grid)
	var both, ours int
	for k := 0; k < src.Dims[2]; k++ {
		for j := 0; j < src.Dims[1]; j++ {
			for i := 0; i < src.Dims[0]; i++ {
				in := cons.Mask.Data[i+src.Dims[0]*(j+src.Dims[1]*k)] != 0
				w := src.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				if in && r.Contains([3]float64(w)) {
					both++
				}
			}
		}
	}
	// Our mask's size in source voxels: its volume over the source voxel
	// volume (the mask's own, not VolumeMM3, which for a solid nodule is
	// the blur-conserved estimate).
	sv := scan.HU.Spacing[0] * scan.HU.Spacing[1] * scan.HU.Spacing[2]
	maskVox := 0
	for _, v := range r.Mask {
		maskVox += int(v)
	}
	ours = int(math.Round(float64(maskVox) * r.Box.Spacing[0] * r.Box.Spacing[1] * r.Box.Spacing[2] / sv))
	dice := 2 * float64(both) / float64(cons.Voxels+ours)
	t.Logf("ours: %s, axes %.1f × %.1f mm (mean %.1f), volume %.0f mm³, solid %.1f mm, spiculation %.2f (%d strands), lobulation %.2f, sphericity %.2f, pleura %.1f mm",
		r.Type, r.LongAxisMM, r.ShortAxisMM, r.MeanDiameterMM, r.VolumeMM3, r.SolidDiameterMM, r.Spiculation, r.Protrusions, r.Lobulation, r.Sphericity, r.PleuraDistanceMM)
	t.Logf("readers' consensus: %.0f mm³ (equivalent diameter %.2f mm), texture %v; Dice %.3f", cons.VolumeMM3, cons.EquivDiameterMM, cons.Texture, dice)
	if r.Type != Solid || cons.Texture != lidc.Solid {
		t.Errorf("type %s, readers' texture %v", r.Type, cons.Texture)
	}
	if math.Abs(r.MeanDiameterMM-23.35) > 0.15*23.35 {
		t.Errorf("mean diameter %.1f mm, LUNA16 23.35 mm ± 15 %%", r.MeanDiameterMM)
	}
	if math.Abs(r.VolumeMM3-cons.VolumeMM3) > 0.25*cons.VolumeMM3 {
		t.Errorf("volume %.0f mm³, consensus %.0f mm³ ± 25 %%", r.VolumeMM3, cons.VolumeMM3)
	}
	if r.Spiculation < 0.5 {
		t.Errorf("spiculation %.2f: not flagged (readers rated 4, 5, 3, 5)", r.Spiculation)
	}
	if dice < 0.7 {
		t.Errorf("Dice %.3f with the readers' consensus", dice)
	}
	if r.PleuraDistanceMM > 1 {
		t.Errorf("the nodule touches the chest wall, pleura distance %.1f mm", r.PleuraDistanceMM)
	}
}

// lidc0001Grid resamples the LIDC-IDRI-0001 series scan to 1 mm and
// segments its lungs.
func lidc0001Grid(t *testing.T, scan *dicomio.Scan) (*volume.Volume[int16], *volume.Volume[uint8]) {
	t.Helper()
	hu, err := resample.Stack(scan.HU, scan.Positions, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lung, err := segment.Lungs(hu, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return hu, lung
}

// TestLIDC0001FromItsEdge seeds the LIDC-IDRI-0001 nodule where the
// detector's clusters met its edge, 8–9 mm off its centre, with their
// small size hints, on the scan, on the scan with 30 HU of white noise
// added (a sharper kernel's), on 5 mm slabs of it, and blurred in-plane (a
// softer kernel's, its blur read from the scan by internal/psf). The ground-glass shell was a sphere about
// the seed, which from the edge cut through the nodule's own margin: the
// body was part-solid, 34 mm across, 11,870 mm³ at a −753 HU threshold,
// and with the noise that measurement outranked the solid one and was
// reported (35.4 mm, Brock 0.75); on 5 mm slabs too (36.5 mm). A band
// found so must now stand without the shell voxels within shellGapMM of
// the region itself, each read less the region's blurred edge at its own
// distance from it (regionNear).
func TestLIDC0001FromItsEdge(t *testing.T) {
	dir := shareddata.Dir(t, "lidc-idri-0001")
	scan, err := dicomio.Load(dir, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hu, lung := lidc0001Grid(t, scan)
	noisy := &volume.Volume[int16]{Grid: hu.Grid, Data: slices.Clone(hu.Data)}
	r := rand.New(rand.NewPCG(30, 1))
	for p, v := range noisy.Data {
		noisy.Data[p] = int16(max(-1024, min(3071, math.Round(float64(v)+30*r.NormFloat64()))))
	}
	// 5 mm slabs of the 1 mm grid, back on the 1 mm grid, as the pipeline
	// reads a 5 mm acquisition.
	slab := slabs(t, hu, 5)
	slabLung, err := segment.Lungs(slab, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A softer kernel: the model's standard one would take its margin's
	// blur for ground glass (part-solid, 35 mm), the blur read from the
	// air–skin edge does not.
	soft := blurXY(hu, 1)
	softKernel, ok := psf.Kernel(soft, scan.HU.Spacing[0])
	if !ok {
		t.Fatal("no air–skin edge read on LIDC-IDRI-0001")
	}
	for _, v := range []struct {
		name string
		hu   *volume.Volume[int16]
		lung *volume.Volume[uint8]
		opt  Options
	}{
		{"scan", hu, lung, Options{}},
		{"scan + 30 HU noise", noisy, lung, Options{}},
		{"5 mm slabs", slab, slabLung, Options{SourceSpacingMM: [3]float64{1, 1, 5}, SliceThicknessMM: 5}},
		{"a softer kernel (σ 1 mm more in-plane), its blur read from the skin", soft, lung, Options{KernelSigmaMM: softKernel}},
	} {
		for _, seed := range [][3]float64{{50.5, 92.5, -115.5}, {50.7, 84.3, -109.0}} {
			res, err := Segment(v.hu, v.lung, seed, 10.4, v.opt, nil)
			if err != nil {
				t.Fatalf("%s, seed %v: %v", v.name, seed, err)
			}
			if res.Type != Solid || math.Abs(res.MeanDiameterMM-23.35) > 0.15*23.35 {
				t.Errorf("%s, seed %v: %s, %.1f mm, %.0f mm³ (threshold %.0f HU); want the solid nodule, 23.35 mm ± 15 %%",
					v.name, seed, res.Type, res.MeanDiameterMM, res.VolumeMM3, res.ThresholdHU)
			}
		}
	}
}

// slabs averages hu (1 mm grid) over slabs of n slices and resamples the
// result back onto a 1 mm grid: an acquisition of n mm slices.
func slabs(t *testing.T, hu *volume.Volume[int16], n int) *volume.Volume[int16] {
	t.Helper()
	g := hu.Grid
	g.Dims[2] = hu.Dims[2] / n
	g.Spacing[2] *= float64(n)
	g.Origin = hu.IndexToWorld(volume.Vec3{0, 0, float64(n-1) / 2})
	src := volume.New[int16](g)
	nxy := hu.Dims[0] * hu.Dims[1]
	for k := 0; k < g.Dims[2]; k++ {
		for p := 0; p < nxy; p++ {
			sum := 0
			for d := 0; d < n; d++ {
				sum += int(hu.Data[(n*k+d)*nxy+p])
			}
			src.Data[k*nxy+p] = int16(math.Round(float64(sum) / float64(n)))
		}
	}
	out, err := resample.Stack(src, nil, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// blurXY returns hu blurred along x and y by a Gaussian of sigma mm (the
// 1 mm grid's voxels; kernel to 3σ, renormalised at the volume's edges).
func blurXY(hu *volume.Volume[int16], sigma float64) *volume.Volume[int16] {
	r := int(math.Ceil(3 * sigma))
	w := make([]float64, 2*r+1)
	for i := range w {
		x := float64(i - r)
		w[i] = math.Exp(-x * x / (2 * sigma * sigma))
	}
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	src := make([]float64, len(hu.Data))
	for p, v := range hu.Data {
		src[p] = float64(v)
	}
	dst := make([]float64, len(src))
	for pass := 0; pass < 2; pass++ {
		step, n := 1, nx // along x, then along y
		if pass == 1 {
			step, n = nx, ny
		}
		for k := 0; k < nz; k++ {
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					at := i
					if pass == 1 {
						at = j
					}
					p := i + nx*(j+ny*k)
					var sum, ws float64
					for d := max(-r, -at); d <= min(r, n-1-at); d++ {
						sum += w[d+r] * src[p+d*step]
						ws += w[d+r]
					}
					dst[p] = sum / ws
				}
			}
		}
		src, dst = dst, src
	}
	out := &volume.Volume[int16]{Grid: hu.Grid, Data: make([]int16, len(hu.Data))}
	for p, v := range src {
		out.Data[p] = int16(math.Round(v))
	}
	return out
}
