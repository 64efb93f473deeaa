package detect

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/volio"
)

// TestDev is a tuning aid: LUNGCTL_DEV=hu.nii.gz:mask.nii.gz:x,y,z runs the
// detector and prints every candidate with its distance to x,y,z.
func TestDev(t *testing.T) {
	spec := os.Getenv("LUNGCTL_DEV")
	if spec == "" {
		t.Skip("tuning aid")
	}
	for _, one := range strings.Split(spec, ";") {
		f := strings.Split(one, ":")
		hu, err := volio.ReadHU(f[0])
		if err != nil {
			t.Fatal(err)
		}
		m, err := volio.ReadMask(f[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != 3 {
			t.Fatalf("LUNGCTL_DEV %q: want hu.nii.gz:mask.nii.gz:x,y,z", one)
		}
		var c [3]float64
		if _, err := fmt.Sscanf(f[2], "%g,%g,%g", &c[0], &c[1], &c[2]); err != nil {
			t.Fatalf("LUNGCTL_DEV %q: the truth point: %v", one, err)
		}
		opt := Options{MaxCandidates: 40}
		t0 := time.Now()
		res, err := Run(hu, m, opt)
		if err != nil {
			t.Fatal(err)
		}
		lv := map[int]int{}
		for _, l := range res.Scale {
			lv[int(l)]++
		}
		t.Logf("%s: %d points %v, %d clusters, %.2fs", f[0], len(res.Points)/5, lv, res.Clusters, time.Since(t0).Seconds())
		nws := &nodule.Workspace{}
		t1 := time.Now()
		for i, cd := range res.Candidates {
			ft := res.Features[i]
			t.Logf("%2d score %.3f d=%5.1f mm from truth; (%.0f %.0f %.0f) diam %.1f HU %.0f SI %.3f fill %.2f | s1 %.2f br %.2f sph %.2f el %.2f wall %.2f cap %.2f segd %.1f",
				i+1, cd.DetectScore, dist3(cd.World, c), cd.World[0], cd.World[1], cd.World[2], cd.DiameterMM, cd.MeanHU, cd.MeanSI, cd.Compactness,
				ft.Stage1, ft.BlobRatio, ft.Sphericity, ft.Elongation, ft.WallContact, ft.CapCut, ft.SegDiamMM)
			if os.Getenv("LUNGCTL_DEV_SEG") == "" {
				continue
			}
			r, err := nodule.Segment(hu, m, cd.World, cd.DiameterMM, nodule.Options{}, nws)
			if err != nil {
				t.Logf("     %v", err)
				continue
			}
			t.Logf("     seg: %s L%.1f S%.1f mean %.1f vol %.0f solid %.1f HU %.0f sph %.2f lob %.2f spic %.2f (%d) pleura %.1f thr %.0f bg %.0f core %.0f open %.1f",
				r.Type, r.LongAxisMM, r.ShortAxisMM, r.MeanDiameterMM, r.VolumeMM3, r.SolidDiameterMM, r.MeanHU,
				r.Sphericity, r.Lobulation, r.Spiculation, r.Protrusions, r.PleuraDistanceMM, r.ThresholdHU, r.BackgroundHU, r.CoreHU, r.OpeningMM)
		}
		t.Logf("segmentation of %d candidates: %.2fs", len(res.Candidates), time.Since(t1).Seconds())
	}
}

// TestDumpFeatures is a tuning aid: LUNGCTL_FEATURES=out.csv with
// LUNGCTL_PHANTOM_SEEDS=A-B writes every second-stage candidate's features
// and whether it hits a truth nodule (kind, diameter) for model fitting.
func TestDumpFeatures(t *testing.T) {
	dumpPhantoms(t, "LUNGCTL_FEATURES", "scan,rank,hit,kind,truth_d,stage1,si,cdiam,chu,fill,resp,level,seg,sph,lob,spic,segd,meand,elong,contrast,solidfrac,offset,final,seg_type,wall,capcut,bratio", func(f *bytes.Buffer, seed int64, p *preparedPhantom) {
		res, err := Run(p.HU, p.Lung, Options{MaxCandidates: -1, Stage1: 40})
		if err != nil {
			t.Fatal(err)
		}
		for r, c := range res.Candidates {
			hit, kind, td := 0, "", 0.0
			for _, nd := range p.Nodules {
				if dist3(c.World, [3]float64(nd.World)) < math.Max(nd.DiameterMM/2, 2) {
					hit, kind, td = 1, string(nd.Kind), nd.DiameterMM
				}
			}
			ft := res.Features[r]
			typ := ""
			if m := res.Nodules[r]; m != nil {
				typ = string(m.Type)
			}
			seg := 0
			if ft.Segmented {
				seg = 1
			}
			fmt.Fprintf(f, "%d,%d,%d,%s,%.2f,%.4f,%.4f,%.2f,%.1f,%.3f,%.1f,%d,%d,%.3f,%.3f,%.3f,%.2f,%.2f,%.2f,%.1f,%.3f,%.3f,%.4f,%s,%.3f,%.3f,%.3f\n",
				seed, r+1, hit, kind, td, ft.Stage1, ft.MeanSI, ft.ClusterDiamMM, ft.ClusterHU, ft.Fill, ft.Response, ft.Level, seg,
				ft.Sphericity, ft.Lobulation, ft.Spiculation, ft.SegDiamMM, ft.MeanDiamMM, ft.Elongation, ft.Contrast, ft.SolidFraction, ft.Offset, c.DetectScore, typ, ft.WallContact, ft.CapCut, ft.BlobRatio)
		}
		// Misses: truth nodules with no candidate at all.
		for _, nd := range p.Nodules {
			found := false
			for _, c := range res.Candidates {
				if dist3(c.World, [3]float64(nd.World)) < math.Max(nd.DiameterMM/2, 2) {
					found = true
				}
			}
			if !found {
				fmt.Fprintf(f, "%d,0,-1,%s,%.2f,,,,,,,,,,,,,,,,,,,,,,\n", seed, nd.Kind, nd.DiameterMM)
			}
		}
	})
}

// phantomSeeds reads the tuning aids' LUNGCTL_PHANTOM_SEEDS=A-B (unset:
// seed 0 alone).
func phantomSeeds(t *testing.T) (a, b int64) {
	t.Helper()
	s := os.Getenv("LUNGCTL_PHANTOM_SEEDS")
	if s == "" {
		return 0, 0
	}
	if _, err := fmt.Sscanf(s, "%d-%d", &a, &b); err != nil {
		t.Fatalf("LUNGCTL_PHANTOM_SEEDS=%q: want A-B: %v", s, err)
	}
	return a, b
}

// dumpPhantoms is the frame of the phantom tuning aids: skipped unless the
// environment variable env names an output file, it writes header and then,
// for each seed of LUNGCTL_PHANTOM_SEEDS, what row writes for that seed's
// phantom, to that file.
func dumpPhantoms(t *testing.T, env, header string, row func(f *bytes.Buffer, seed int64, p *preparedPhantom)) {
	out := os.Getenv(env)
	if out == "" {
		t.Skip("tuning aid")
	}
	a, b := phantomSeeds(t)
	var f bytes.Buffer
	fmt.Fprintln(&f, header)
	for seed := a; seed <= b; seed++ {
		row(&f, seed, preparePhantom(t, seed))
	}
	if err := os.WriteFile(out, f.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
