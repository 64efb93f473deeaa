package report

import (
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/render"
	"github.com/lungctl/lungctl/internal/volume"
)

// hostileID is a patient id as a hostile folder name could make it.
const hostileID = "P-007\"><script>alert('id')</script>\n<img src=x onerror=alert(2)>&amp;"

// lesion is a synthetic nodule: a solid core and an optional ground-glass
// halo (radii in mm, centre LPS mm).
type lesion struct {
	c           volume.Vec3
	core, halo  float64
	coreHU      int16
	label, kind string
}

var lesions = []lesion{
	{volume.Vec3{-18, 6, -8}, 3.5, 0, 60, "N1", "solid"},
	{volume.Vec3{14, -10, 6}, 2.5, 6, 40, "N2", "part-solid"},
	{volume.Vec3{6, 14, -14}, 4.5, 0, 30, "N3", "solid"},
}

var (
	volOnce sync.Once
	synth   *volume.Volume[int16]
)

// sourceVolume is a small CT-like source grid: 0.7 mm pixels, 1.25 mm
// slices, lung at −850 HU with deterministic noise, a vessel, and the
// three lesions.
func sourceVolume() *volume.Volume[int16] {
	volOnce.Do(func() {
		g := volume.Grid{Dims: [3]int{110, 110, 44}, Spacing: volume.Vec3{0.7, 0.7, 1.25}, Origin: volume.Vec3{-38, -38, -27}, Direction: volume.Identity}
		v := volume.New[int16](g)
		for k := 0; k < g.Dims[2]; k++ {
			for j := 0; j < g.Dims[1]; j++ {
				for i := 0; i < g.Dims[0]; i++ {
					w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
					h := uint32(i*73856093 ^ j*19349663 ^ k*83492791)
					hu := -850 + float64(h%61) - 30
					if r := math.Hypot(w[0]-2, w[1]+2); r < 2.2 { // a vessel along z
						hu = 40
					}
					for _, l := range lesions {
						d := math.Sqrt((w[0]-l.c[0])*(w[0]-l.c[0]) + (w[1]-l.c[1])*(w[1]-l.c[1]) + (w[2]-l.c[2])*(w[2]-l.c[2]))
						switch {
						case d <= l.core:
							hu = float64(l.coreHU)
						case d <= l.halo:
							hu = -520 + float64(h%41) - 20
						}
					}
					v.Set(i, j, k, int16(hu))
				}
			}
		}
		synth = v
	})
	return synth
}

var (
	patOnce sync.Once
	pat     Patient
	patErr  error
)

// testPatient returns a patient with the three lesions as findings, given
// out of malignancy order, with images rendered from sourceVolume (built
// once; each call gets its own copy of every slice a test may change).
func testPatient(t testing.TB) Patient {
	t.Helper()
	patOnce.Do(func() { pat, patErr = buildPatient() })
	if patErr != nil {
		t.Fatal(patErr)
	}
	p := pat
	p.Clinical = slices.Clone(p.Clinical)
	p.Warnings = slices.Clone(p.Warnings)
	p.Findings = slices.Clone(p.Findings)
	for i := range p.Findings {
		p.Findings[i].Images = slices.Clone(p.Findings[i].Images)
	}
	return p
}

func buildPatient() (Patient, error) {
	v := sourceVolume()
	brock := []float64{0.08, math.NaN(), 0.31} // N2: Brock not computed, CNN 0.12
	cnn := []float64{0.05, 0.12, 0.44}
	p := Patient{ID: hostileID, SeriesUID: "1.2.826.0.1.3680043.8.498.1", Input: "/data/batch/<P-007>/dicom",
		CancerProbability: 0.3512, Scorer: "brock", LungRADS: "4B", EmphysemaPct: 7.25,
		Clinical: []KV{{"Age (years)", "62", false}, {"Sex", "female", false}, {"Family history of lung cancer", "no", true},
			{"Emphysema (LAA-950 ≥ 5 %)", "yes", false}},
		ModelSHA256: "9f2c4e1b7a0d3c58e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7", ToolVersion: "v0.9.0-test",
		KernelSigmaMM: 0.613,
		Warnings:      []string{"2 slices missing between z = −120.0 and −117.5 mm; resampled across the gap", "PatientAge absent: age from --clinical"},
	}
	var cs []candidate.Candidate
	for i, l := range lesions {
		d := 2 * math.Max(l.core, l.halo)
		f := Finding{Rank: i + 1, Label: l.label, CentreLPS: l.c, Type: l.kind,
			LongAxisMM: d * 1.1, ShortAxisMM: d * 0.9, MeanDiameterMM: d, VolumeMM3: math.Pi / 6 * d * d * d,
			SolidDiameterMM: math.NaN(), Spiculation: 0.1 * float64(i+1), UpperZone: i != 1, LungRADS: []string{"3", "3", "4B"}[i],
			Brock: brock[i], CNN: cnn[i], DetectScore: 0.9 - 0.1*float64(i)}
		if l.kind == "part-solid" {
			f.SolidDiameterMM = 2 * l.core
		}
		ims, err := FindingImages(v, l.c, d, render.PlaneOptions{FOVMM: 40})
		if err != nil {
			return p, err
		}
		f.Images = ims
		p.Findings = append(p.Findings, f)
		cs = append(cs, candidate.Candidate{World: l.c, Probability: f.DetectScore, DiameterMM: d})
	}
	img, _, err := render.OverviewImage(v, nil, cs, render.OverviewOptions{PixelMM: 0.35, Title: "synthetic chest phantom"})
	if err != nil {
		return p, err
	}
	p.Overview, err = render.EncodePNG(img)
	return p, err
}

// wantOrder is the findings' malignancy order under the Brock scorer:
// N3 (Brock 31 %), N2 (no Brock: CNN 12 %), N1 (Brock 8 %).
var wantOrder = []string{"N3", "N2", "N1"}

func testSummaries() []Summary {
	return []Summary{
		{ID: "low", Href: "low/report.html", CancerProbability: 0.02, Scorer: "brock", LungRADS: "2", Findings: 1},
		{ID: "broken <scan>", CancerProbability: 0.9, Scorer: "cnn", Error: "dicomio: /in/broken: no DICOM series found\nsecond line"}, // stale probability: not shown
		{ID: hostileID, Href: "P-007/report.html", CancerProbability: 0.3512, Scorer: "brock", LungRADS: "4B", Findings: 3, Warnings: 2},
		{ID: "unknown", Href: "javascript:alert(1)", CancerProbability: math.NaN(), Scorer: "cnn", LungRADS: "", Findings: 0},
		{ID: "mid", Href: "dir with space/r%e.html", CancerProbability: 0.12, Scorer: "fused", LungRADS: "4A", Findings: 2},
	}
}

// wantIndexOrder: by probability, unknown then failed last.
var wantIndexOrder = []string{hostileID, "mid", "low", "unknown", "broken <scan>"}
