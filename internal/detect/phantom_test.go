package detect

import (
	"encoding/gob"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/eval"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/resample"
	"github.com/lungctl/lungctl/internal/segment"
	"github.com/lungctl/lungctl/internal/volume"
)

// preparedPhantom is a Full-size phantom resampled to 1 mm with the lung
// mask computed by the project's segmenter, plus its truth.
type preparedPhantom struct {
	HU      *volume.Volume[int16]
	Lung    *volume.Volume[uint8]
	Nodules []phantom.Nodule
	UID     string
}

// preparePhantom generates phantom seed at the Full size (0.7 mm × 2.5 mm
// voxels), resamples it to 1 mm and segments the lungs with segment.Lungs
// (the mask the CLI would use). With LUNGCTL_PHANTOM_CACHE set to a
// directory the result is cached there, LUNGCTL_PHANTOM_SLICE (mm)
// generates other slice spacings than 2.5 mm, and LUNGCTL_PHANTOM_SMALL
// (a comma-separated kind list) a patient of small nodules of those kinds
// alone, 3.5–7 mm, without a mass (tuning aids; tests never need them).
func preparePhantom(t testing.TB, seed int64) *preparedPhantom {
	cache := os.Getenv("LUNGCTL_PHANTOM_CACHE")
	dz, _ := strconv.ParseFloat(os.Getenv("LUNGCTL_PHANTOM_SLICE"), 64)
	opt := phantom.Options{Seed: seed, Size: phantom.Full, SliceSpacingMM: dz}
	small := os.Getenv("LUNGCTL_PHANTOM_SMALL")
	if small != "" {
		for _, k := range strings.Split(small, ",") {
			opt.Kinds = append(opt.Kinds, phantom.Kind(k))
		}
		opt.MinDiameterMM, opt.MaxDiameterMM, opt.MassProbability = 3.5, 7, -1
	}
	name := ""
	if cache != "" {
		name = fmt.Sprintf("full-%d.gob", seed)
		if dz > 0 {
			name = fmt.Sprintf("full-%d-%gmm.gob", seed, dz)
		}
		if small != "" {
			name = fmt.Sprintf("full-%d-small-%s.gob", seed, strings.ReplaceAll(small, ",", "-"))
		}
	}
	return preparePhantomOpt(t, opt, name)
}

// preparePhantomOpt generates the phantom opt describes, resamples it to 1
// mm and segments the lungs (see preparePhantom); with
// LUNGCTL_PHANTOM_CACHE set and a name, the result is cached there under
// that name.
func preparePhantomOpt(t testing.TB, opt phantom.Options, name string) *preparedPhantom {
	seed := opt.Seed
	var file string
	if cache := os.Getenv("LUNGCTL_PHANTOM_CACHE"); cache != "" && name != "" {
		file = filepath.Join(cache, name)
		if f, err := os.Open(file); err == nil {
			var p preparedPhantom
			err = gob.NewDecoder(f).Decode(&p)
			_ = f.Close() // read only
			if err == nil {
				return &p
			}
		}
	}
	c, err := phantom.Generate(opt)
	if err != nil {
		t.Fatalf("phantom seed %d: %v", seed, err)
	}
	hu, err := resample.Stack(c.HU, nil, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatalf("phantom seed %d: %v", seed, err)
	}
	m, err := segment.Lungs(hu, segment.Options{})
	if err != nil {
		t.Fatalf("phantom seed %d: %v", seed, err)
	}
	p := &preparedPhantom{HU: hu, Lung: m, Nodules: c.Nodules, UID: "phantom-" + strconv.FormatInt(seed, 10)}
	if file != "" {
		// The cache only saves time: a failed write is logged, not fatal.
		if err := cachePhantom(file, p); err != nil {
			t.Logf("phantom cache: %v", err)
		}
	}
	return p
}

// cachePhantom writes p to file (through a temporary, renamed when whole).
func cachePhantom(file string, p *preparedPhantom) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp := file + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = gob.NewEncoder(f).Encode(p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp) // partial: not a cache entry
		return err
	}
	return os.Rename(tmp, file)
}

// phantomScore is the outcome of evalPhantoms.
type phantomScore struct {
	res   *eval.Result
	sens4 float64 // FROC sensitivity at 4 FP/scan
}

// evalPhantoms runs Run on the Full phantoms of seeds and scores the
// candidates with the LUNA16 rules (eval.Evaluate: a mark hits a nodule when
// its distance to the centre is below the radius): nodules ≥ 4 mm are the
// annotations, smaller ones are excluded findings (marks on them are neither
// hits nor false positives), as in LUNA16.
func evalPhantoms(t *testing.T, seeds []int64, opt Options) phantomScore {
	var ann, exc []eval.Annotation
	var cands []candidate.Candidate
	var scans []string
	ws := &Workspace{}
	for _, seed := range seeds {
		p := preparePhantom(t, seed)
		o := opt
		o.SeriesUID = p.UID
		o.Work = ws
		r, err := Run(p.HU, p.Lung, o)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		scans = append(scans, p.UID)
		cands = append(cands, r.Candidates...)
		for _, nd := range p.Nodules {
			a := eval.Annotation{SeriesUID: p.UID, World: [3]float64(nd.World), DiameterMM: nd.DiameterMM}
			if nd.DiameterMM >= 4 {
				ann = append(ann, a)
			} else {
				exc = append(exc, a)
			}
		}
	}
	res, err := eval.Evaluate(ann, exc, scans, cands, eval.Options{Name: "detect"})
	if err != nil {
		t.Fatal(err)
	}
	var miss []string
	for _, nr := range res.PerNodule {
		if !nr.Detected {
			miss = append(miss, fmt.Sprintf("%s %.1f mm at (%.0f %.0f %.0f)", nr.SeriesUID, nr.DiameterMM, nr.World[0], nr.World[1], nr.World[2]))
		}
	}
	s4 := eval.Interp(res.Curve, 4)
	t.Logf("%d scans, %d nodules ≥ 4 mm: detected %d (%.3f) with %.2f FP/scan; sensitivity at 4 FP/scan %.3f; CPM %.3f (at %v: %.2f)",
		res.Scans, res.Nodules, res.Detected, res.Sensitivity, res.FPPerScan, s4, res.CPM, res.OperatingPoints, res.SensitivityAt)
	if len(miss) > 0 {
		t.Logf("missed: %s", strings.Join(miss, "; "))
	}
	return phantomScore{res: res, sens4: s4}
}

func seedRange(a, b int64) []int64 {
	var s []int64
	for x := a; x <= b; x++ {
		s = append(s, x)
	}
	return s
}

// TestPhantomHeldOut scores the detector at the default options on the
// held-out Full phantoms 101–120 (never used for tuning; tuning used seeds
// 1–20): FROC sensitivity at 4 FP/scan for lesions ≥ 4 mm of every kind
// (solid, ground glass, part-solid, masses), measured 0.83 when the
// detector was last tuned; the bound guards against regressions. The issue
// target of 0.95 per kind is not met for ground glass and small
// juxtapleural nodules (README, "Accuracy"). With -short only seeds
// 101–102 run, with a looser bound.
func TestPhantomHeldOut(t *testing.T) {
	if os.Getenv("LUNGCTL_PHANTOM_SEEDS") != "" {
		// Tuning aid: LUNGCTL_PHANTOM_SEEDS=1-10 scores other seeds.
		a, b := phantomSeeds(t)
		evalPhantoms(t, seedRange(a, b), Options{})
		return
	}
	seeds, want := seedRange(101, 120), 0.8
	if testing.Short() {
		seeds, want = seedRange(101, 102), 0.7
	}
	sc := evalPhantoms(t, seeds, Options{})
	if sc.sens4 < want || math.IsNaN(sc.sens4) {
		t.Errorf("held-out sensitivity at 4 FP/scan %.3f < %.2f", sc.sens4, want)
	}
}

// TestPhantomCoreFromGroundGlass segments phantom 19's 23 mm part-solid
// lesion (a 2.8 mm core) at its centre: measured first, its plateau hides
// the core and it reads non-solid; measured again from its ground glass
// (rounder) the core stands out, and that body is kept although it is
// part-solid (before, only a non-solid second body was: non-solid, 5,794
// of 6,488 mm³).
func TestPhantomCoreFromGroundGlass(t *testing.T) {
	p := preparePhantom(t, 19)
	nd := phantomNodule(t, p, phantom.PartSolid, 20, math.Inf(1), "phantom 19 has no part-solid lesion over 20 mm")
	r, err := nodule.Segment(p.HU, p.Lung, [3]float64(nd.World), nd.DiameterMM,
		nodule.Options{SourceSpacingMM: [3]float64{0.703125, 0.703125, 2.5}, SliceThicknessMM: 2.5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != nodule.PartSolid || math.Abs(r.VolumeMM3/nd.VolumeMM3-1) > 0.1 {
		t.Errorf("%.1f mm part-solid (core %.1f mm, %.0f mm³): %s, core %.1f mm, %.0f mm³", nd.DiameterMM, nd.SolidDiameterMM, nd.VolumeMM3, r.Type, r.SolidDiameterMM, r.VolumeMM3)
	}
}

// TestPhantomTangledPartSolid runs the detector on phantom 409 (seeds
// 401–420), whose 17.8 mm part-solid lesion is crossed by vessels: its
// cluster's mean lies in one, and the first measurement took in their
// tree, part-solid 27 mm across with sphericity 0.5. Measured again from
// its ground glass (psTangled) it is the lesion.
func TestPhantomTangledPartSolid(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-scan detection of a full-size phantom")
	}
	p := preparePhantom(t, 409)
	nd := phantomNodule(t, p, phantom.PartSolid, 17.7, 17.9, "phantom 409 has no 17.8 mm part-solid lesion")
	c := detectedAt(t, p, nd)
	if c.Type != string(nodule.PartSolid) || math.Abs(c.MeanDiameterMM/nd.DiameterMM-1) > 0.2 {
		t.Errorf("%.1f mm part-solid lesion measured %s %.1f mm", nd.DiameterMM, c.Type, c.MeanDiameterMM)
	}
}

// detectedAt runs the detector on the full-size phantom p (2.5 mm slices
// of 0.703125 mm pixels) and returns the best-ranked candidate within the
// lesion nd's radius, logging its rank; the test fails when there is none.
func detectedAt(t *testing.T, p *preparedPhantom, nd *phantom.Nodule) candidate.Candidate {
	t.Helper()
	res, err := Run(p.HU, p.Lung, Options{Nodule: nodule.Options{SourceSpacingMM: [3]float64{0.703125, 0.703125, 2.5}, SliceThicknessMM: 2.5}})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range res.Candidates {
		if dist3(c.World, [3]float64(nd.World)) <= nd.DiameterMM/2 {
			t.Logf("rank %d: %s %.1f mm (truth %s %.1f mm), score %.3f", i+1, c.Type, c.MeanDiameterMM, nd.Kind, nd.DiameterMM, c.DetectScore)
			return c
		}
	}
	t.Fatalf("%.1f mm %s lesion not among the %d candidates", nd.DiameterMM, nd.Kind, len(res.Candidates))
	return candidate.Candidate{}
}

// phantomNodule returns the last of p's lesions of kind whose diameter
// lies strictly between lo and hi mm; the test fails with missing when
// there is none.
func phantomNodule(t *testing.T, p *preparedPhantom, kind phantom.Kind, lo, hi float64, missing string) *phantom.Nodule {
	t.Helper()
	var nd *phantom.Nodule
	for i := range p.Nodules {
		if n := &p.Nodules[i]; n.Kind == kind && n.DiameterMM > lo && n.DiameterMM < hi {
			nd = n
		}
	}
	if nd == nil {
		t.Fatal(missing)
	}
	return nd
}

// TestPhantomJuxtavascular runs the detector on phantom 1608 of the
// juxtavascular seeds (--kinds juxtavascular,round --nodules 6), whose
// 10.7 mm nodule has a vessel along its side: the opening left the vessel
// on it (13.1 mm, score 0.021 at rank 6, under the report threshold)
// until cutVessels took it off.
func TestPhantomJuxtavascular(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-scan detection of a full-size phantom")
	}
	p := preparePhantomOpt(t, phantom.Options{Seed: 1608, Size: phantom.Full, Kinds: []phantom.Kind{phantom.Juxtavascular, phantom.Round}, Nodules: 6}, "")
	nd := phantomNodule(t, p, phantom.Juxtavascular, 10.6, 10.8, "phantom 1608 has no 10.7 mm juxtavascular nodule")
	c := detectedAt(t, p, nd)
	if c.DetectScore < 0.5 || math.Abs(c.MeanDiameterMM/nd.DiameterMM-1) > 0.15 {
		t.Errorf("%.1f mm juxtavascular nodule: %.1f mm, score %.3f; want its own size and a score of 0.5 or more", nd.DiameterMM, c.MeanDiameterMM, c.DetectScore)
	}
}
