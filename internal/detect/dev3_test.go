package detect

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/features"
	"github.com/lungctl/lungctl/internal/volio"
)

func TestDevNearFile(t *testing.T) {
	spec := os.Getenv("LUNGCTL_NEARFILE")
	if spec == "" {
		t.Skip("tuning aid")
	}
	f := strings.Split(spec, ":")
	hu, _ := volio.ReadHU(f[0])
	m, _ := volio.ReadMask(f[1])
	var c [3]float64
	fmt.Sscanf(f[2], "%g,%g,%g", &c[0], &c[1], &c[2])
	opt := Options{MaxCandidates: -1, Stage1: 400}
	res, err := Run(hu, m, opt)
	if err != nil {
		t.Fatal(err)
	}
	lv := map[int]int{}
	for q := 0; q < len(res.Scale); q++ {
		x := [3]float64{float64(res.Points[5*q]), float64(res.Points[5*q+1]), float64(res.Points[5*q+2])}
		if dist(x, c) < 15 {
			lv[int(res.Scale[q])]++
		}
	}
	t.Logf("points within 15 mm by scale: %v (total %d)", lv, len(res.Scale))
	for r, cd := range res.Candidates {
		if d := dist(cd.World, c); d < 30 {
			f := res.Features[r]
			t.Logf("rank %d d=%.1f final %.3f stage1 %.3f cdiam %.1f si %.3f hu %.0f fill %.2f lvl %d seg %v sph %.2f segd %.1f", r+1, d, cd.DetectScore, f.Stage1, f.ClusterDiamMM, f.MeanSI, f.ClusterHU, f.Fill, f.Level, f.Segmented, f.Sphericity, f.SegDiamMM)
		}
	}
}

func TestDevStage1(t *testing.T) {
	spec := os.Getenv("LUNGCTL_NEARFILE")
	if spec == "" {
		t.Skip("tuning aid")
	}
	f := strings.Split(spec, ":")
	hu, _ := volio.ReadHU(f[0])
	m, _ := volio.ReadMask(f[1])
	var c [3]float64
	fmt.Sscanf(f[2], "%g,%g,%g", &c[0], &c[1], &c[2])
	opt := Options{MaxCandidates: -1, Stage1: 400}.withDefaults()
	ws := &Workspace{}
	lo, _ := ws.cropToMask(hu, m, opt)
	sigma0 := max(opt.SigmaMM, hu.Spacing[0])
	if err := featuresBuild(ws, sigma0, opt.Levels); err != nil {
		t.Fatal(err)
	}
	inLung := func(i, j, k int) bool { return m.At(lo[0]+i, lo[1]+j, lo[2]+k) != 0 }
	ws.selectPoints(inLung, opt)
	ps := &ws.points
	labels, k, _, err := clusterPoints(ps, opt)
	if err != nil {
		t.Fatal(err)
	}
	st := make([]clusterStats, k)
	for q, l := range labels {
		st[l].add(ps.pts[5*q:5*q+5], float64(ps.weight[q]), float64(ps.raw[q]), float64(ps.resp[q]), int(ps.level[q]))
	}
	for i := range st {
		if d := dist(st[i].centre(), c); d < 20 && st[i].n > 3 {
			t.Logf("cluster %d: d=%.1f n=%.0f pts=%d level %d si %.3f hu %.0f", i, d, st[i].n, st[i].pts, st[i].level, st[i].si/st[i].n, st[i].hu/st[i].n)
		}
	}
	cs, _ := ws.candidates(hu, inLung, ps, labels, k, opt)
	for r, cd := range cs {
		if d := dist(cd.World, c); d < 30 {
			t.Logf("stage1 rank %d d=%.1f score %.3f diam %.1f si %.3f hu %.0f fill %.2f", r+1, d, cd.DetectScore, cd.DiameterMM, cd.MeanSI, cd.MeanHU, cd.Compactness)
		}
	}
}

func featuresBuild(ws *Workspace, sigma0 float64, levels int) error {
	return features.BuildPyramid(&ws.pyr, ws.crop, sigma0, levels)
}

// TestDumpStage1 is a tuning aid: every first-stage cluster's features and
// whether it hits a truth nodule (LUNGCTL_STAGE1=out.csv,
// LUNGCTL_PHANTOM_SEEDS=A-B).
func TestDumpStage1(t *testing.T) {
	out := os.Getenv("LUNGCTL_STAGE1")
	if out == "" {
		t.Skip("tuning aid")
	}
	var a, b int64
	fmt.Sscanf(os.Getenv("LUNGCTL_PHANTOM_SEEDS"), "%d-%d", &a, &b)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintln(f, "scan,hit,kind,truth_d,stage1,si,cdiam,chu,fill,resp,level,n,pts")
	for seed := a; seed <= b; seed++ {
		p := preparePhantom(t, seed)
		opt := Options{MaxCandidates: -1, Stage1: 100000}.withDefaults()
		ws := &Workspace{}
		lo, _ := ws.cropToMask(p.HU, p.Lung, opt)
		if err := featuresBuild(ws, max(opt.SigmaMM, p.HU.Spacing[0]), opt.Levels); err != nil {
			t.Fatal(err)
		}
		inLung := func(i, j, k int) bool { return p.Lung.At(lo[0]+i, lo[1]+j, lo[2]+k) != 0 }
		ws.selectPoints(inLung, opt)
		ps := &ws.points
		labels, k, _, err := clusterPoints(ps, opt)
		if err != nil {
			t.Fatal(err)
		}
		cs, st := ws.candidates(p.HU, inLung, ps, labels, k, opt)
		found := map[int]bool{}
		for i, c := range cs {
			hit, kind, td := 0, "", 0.0
			for ni, nd := range p.Nodules {
				r := math.Max(nd.DiameterMM/2, 2)
				if os.Getenv("LUNGCTL_STAGE1_REACH") != "" {
					r = math.Max(nd.DiameterMM/2+4, 6)
				}
				if dist(c.World, [3]float64(nd.World)) < r {
					hit, kind, td = 1, string(nd.Kind), nd.DiameterMM
					found[ni] = true
				}
			}
			fmt.Fprintf(f, "%d,%d,%s,%.2f,%.4f,%.4f,%.2f,%.1f,%.3f,%.1f,%d,%.0f,%d\n", seed, hit, kind, td, c.DetectScore, c.MeanSI,
				c.DiameterMM, c.MeanHU, c.Compactness, st[i].resp, st[i].level, st[i].n, st[i].pts)
		}
		for ni, nd := range p.Nodules {
			if !found[ni] {
				fmt.Fprintf(f, "%d,-1,%s,%.2f,,,,,,,,,\n", seed, nd.Kind, nd.DiameterMM)
			}
		}
	}
}
