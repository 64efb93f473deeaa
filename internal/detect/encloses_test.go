package detect

import (
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"

	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestEncloses: a part-solid lesion segmented at a lower-ranked candidate
// replaces the kept candidate that is its solid core (not a calcified
// one); nothing else does.
func TestEncloses(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 20, 20}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	lesion := func(typ nodule.Type, vol float64, centre [3]float64, r float64) *nodule.Result {
		m := make([]uint8, g.Len())
		for k := 0; k < 20; k++ {
			for j := 0; j < 20; j++ {
				for i := 0; i < 20; i++ {
					if dist3([3]float64{float64(i), float64(j), float64(k)}, centre) <= r {
						m[g.Index(i, j, k)] = 1
					}
				}
			}
		}
		return &nodule.Result{Type: typ, VolumeMM3: vol, Centre: centre, Box: g, Mask: m}
	}
	core := lesion(nodule.Solid, 260, [3]float64{8, 10, 10}, 4)
	cases := []struct {
		name  string
		outer *nodule.Result
		want  bool
	}{
		{"part-solid around the core", lesion(nodule.PartSolid, 990, [3]float64{10, 10, 10}, 7), true},
		{"solid around the core", lesion(nodule.Solid, 990, [3]float64{10, 10, 10}, 7), false},
		{"part-solid not twice the core", lesion(nodule.PartSolid, 400, [3]float64{10, 10, 10}, 7), false},
		{"part-solid beside the core", lesion(nodule.PartSolid, 990, [3]float64{17, 17, 17}, 3), false},
		{"nothing segmented", nil, false},
	}
	for _, c := range cases {
		if got := encloses(c.outer, core); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// A granuloma is no part-solid lesion's core: a body of granuloma and
	// vessels segmented from a seed on a vessel beside it does not replace
	// it (an independently generated phantom's 8.8 mm granuloma was
	// reported 7 mm off its centre, as a 21 mm part-solid lesion).
	granuloma := lesion(nodule.Calcified, 260, [3]float64{8, 10, 10}, 4)
	if encloses(cases[0].outer, granuloma) || completes(cases[0].outer, 0.9, granuloma) {
		t.Error("a part-solid body replaces the calcified lesion it holds")
	}
	if !completes(lesion(nodule.Solid, 990, [3]float64{10, 10, 10}, 7), 0.9, granuloma) {
		t.Error("a solid mass holding a calcified fragment of it does not complete it")
	}
	if k := enclosedKept(cases[0].outer, 0.1, []*nodule.Result{nil, lesion(nodule.Solid, 50, [3]float64{2, 2, 2}, 1), core}); k != 2 {
		t.Errorf("enclosedKept = %d, want 2", k)
	}
	// Any lesion that holds a kept lesion whole, and scores 0.5 or more on
	// its own, completes it: a mass cut short by a cap from its edge.
	whole := lesion(nodule.Solid, 990, [3]float64{10, 10, 10}, 7)
	for _, c := range []struct {
		name  string
		outer *nodule.Result
		score float64
		want  bool
	}{
		{"solid around a part of it", whole, 0.9, true},
		{"a low-scoring body around it (a vessel tree)", whole, 0.3, false},
		{"not twice its volume", lesion(nodule.Solid, 400, [3]float64{10, 10, 10}, 7), 0.9, false},
		{"beside it", lesion(nodule.Solid, 990, [3]float64{17, 17, 17}, 3), 0.9, false},
		{"nothing segmented", nil, 0.9, false},
	} {
		if got := completes(c.outer, c.score, core); got != c.want {
			t.Errorf("completes, %s: %v, want %v", c.name, got, c.want)
		}
	}
	if k := enclosedKept(whole, 0.9, []*nodule.Result{core}); k != 0 {
		t.Errorf("enclosedKept of a solid whole = %d, want 0", k)
	}
}

// TestDuplicateEitherWay: a candidate is a duplicate when its centre lies
// in a kept lesion, or when its own lesion holds a kept centre.
func TestDuplicateEitherWay(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 20, 20}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	ball := func(centre [3]float64, r float64) *nodule.Result {
		m := make([]uint8, g.Len())
		for p := range m {
			i, j, k := p%20, (p/20)%20, p/400
			if dist3([3]float64{float64(i), float64(j), float64(k)}, centre) <= r {
				m[p] = 1
			}
		}
		return &nodule.Result{Centre: centre, Box: g, Mask: m}
	}
	keptC := []candidate.Candidate{{World: [3]float64{5, 10, 10}}}
	small := ball([3]float64{5, 10, 10}, 2)
	big := ball([3]float64{11, 10, 10}, 7)
	if !duplicate([3]float64{11, 10, 10}, big, keptC, []*nodule.Result{small}) {
		t.Error("a lesion holding a kept centre is not a duplicate")
	}
	if duplicate([3]float64{11, 10, 10}, ball([3]float64{11, 10, 10}, 3), keptC, []*nodule.Result{small}) {
		t.Error("a separate lesion is a duplicate")
	}
	if !duplicate([3]float64{6, 10, 10}, nil, keptC, []*nodule.Result{big}) {
		t.Error("a centre inside a kept lesion is not a duplicate")
	}
}

// mergeScene is mergeCoarse's setting in the tests: the default pyramid's
// σ (1.5–24 mm) and an empty 8³ volume away from the clusters, all of it
// lung (mergeCoarse only rescores the pools on it).
func mergeScene() (*Workspace, *volume.Volume[int16], func(i, j, k int) bool) {
	ws := &Workspace{}
	ws.pyr.Sigma = []float64{1.5, 3, 6, 12, 24}
	g := volume.Grid{Dims: [3]int{8, 8, 8}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{-200, -200, -200}, Direction: volume.Identity}
	ws.pyr.Levels = []*volume.Volume[float32]{{Grid: g, Data: make([]float32, g.Len())}}
	hu := &volume.Volume[int16]{Grid: g, Data: make([]int16, g.Len())}
	return ws, hu, func(i, j, k int) bool { return true }
}

// TestMergeCoarse: a coarse cluster within the blob radius (√3·σ, 20.8 mm
// at σ 12 mm) of a better-ranked coarse one is merged into it, unless its
// blob point lies elsewhere (where reseed would find another lesion); fine
// clusters and far ones stay. The merged cluster pools the points: its
// centre and size are both clusters'.
func TestMergeCoarse(t *testing.T) {
	ws, hu, inLung := mergeScene()
	type cl struct {
		at, blob         [3]float64
		level, blobLevel int
	}
	cls := []cl{
		{[3]float64{0, 0, 0}, [3]float64{0, 0, 0}, 3, 3},     // 0: kept, the mass
		{[3]float64{5, 0, 0}, [3]float64{5, 0, 0}, 1, 0},     // 1: fine, kept
		{[3]float64{15, 0, 0}, [3]float64{15, 0, 0}, 3, 3},   // 2: same mass, merged into 0
		{[3]float64{0, 12, 0}, [3]float64{0, 40, 0}, 3, 0},   // 3: blob point 40 mm off, kept
		{[3]float64{0, 0, 20}, [3]float64{0, 0, 20}, 4, 1},   // 4: blob point within, merged into 0
		{[3]float64{30, 0, 0}, [3]float64{30, 0, 0}, 3, 3},   // 5: 30 mm away, kept
		{[3]float64{40, 0, 0}, [3]float64{40, 0, 0}, 3, 3},   // 6: within 20.8 mm of 5, merged into 5
		{[3]float64{0, -21, 0}, [3]float64{0, -21, 0}, 3, 3}, // 7: just beyond, kept
	}
	cs := make([]candidate.Candidate, len(cls))
	st := make([]clusterStats, len(cls))
	idx := make([]int, len(cls))
	for i, c := range cls {
		st[i] = clusterStats{level: c.level, blobAt: c.blob, blobLevel: c.blobLevel}
		st[i].add([]float32{float32(c.at[0]), float32(c.at[1]), float32(c.at[2]), -100, 0.9}, 100, -100, 50, c.level)
		st[i].blobAt, st[i].blobLevel = c.blob, c.blobLevel
		cs[i].World = c.at
		cs[i].DetectScore = 1 - float64(i)/10 // ranked as listed
		idx[i] = i
	}
	got := ws.mergeCoarse(hu, inLung, cs, st, idx, Options{}.withDefaults())
	kept := map[int]bool{}
	for _, i := range got {
		kept[i] = true
	}
	for i, want := range []bool{true, true, false, true, false, true, false, true} {
		if kept[i] != want {
			t.Errorf("cluster %d kept %v, want %v (kept %v)", i, kept[i], want, got)
		}
	}
	// Cluster 0 pools 0, 2 and 4 (100 voxels each): centre (5, 0, 6.7).
	if c := cs[0].World; dist3(c, [3]float64{5, 0, 20.0 / 3}) > 1e-6 || cs[0].Voxels != 300 {
		t.Errorf("merged mass at %v with %d voxels, want (5, 0, 6.7) and 300", c, cs[0].Voxels)
	}
	if c := cs[5].World; dist3(c, [3]float64{35, 0, 0}) > 1e-6 {
		t.Errorf("merged cluster 5 at %v, want (35, 0, 0)", c)
	}
}

// TestMergeCoarseKeepsOwnBlob: a pool whose blob point comes from a merged
// cluster that answered more remembers the better-ranked cluster's own
// fine blob point, so that refine also segments there (a small nodule's
// cluster that pooled vessel clusters around it); a pool that keeps its
// own blob point, or whose own is coarse, has none to remember.
func TestMergeCoarseKeepsOwnBlob(t *testing.T) {
	ws, hu, inLung := mergeScene()
	for _, tc := range []struct {
		name             string
		keptLevel        int
		keptResp, merged float64
		wantOwn          bool
	}{
		{"merged answers more, own fine", 1, 50, 80, true},
		{"own answers more", 1, 80, 50, false},
		{"own coarse", 3, 50, 80, false},
	} {
		at := [][3]float64{{0, 0, 0}, {12, 0, 0}}
		cs := make([]candidate.Candidate, 2)
		st := make([]clusterStats, 2)
		for i, resp := range []float64{tc.keptResp, tc.merged} {
			lvl := tc.keptLevel
			if i == 1 {
				lvl = 0
			}
			st[i].add([]float32{float32(at[i][0]), float32(at[i][1]), float32(at[i][2]), -100, 0.9}, 100, -100, resp, lvl)
			st[i].level = 3
			cs[i].World = at[i]
			cs[i].DetectScore = 0.9 - 0.1*float64(i)
		}
		got := ws.mergeCoarse(hu, inLung, cs, st, []int{0, 1}, Options{}.withDefaults())
		if len(got) != 1 || got[0] != 0 {
			t.Fatalf("%s: kept %v, want the first cluster alone", tc.name, got)
		}
		if st[0].hasOwn != tc.wantOwn {
			t.Errorf("%s: remembers its own blob point %v, want %v", tc.name, st[0].hasOwn, tc.wantOwn)
		}
		if tc.wantOwn && (st[0].ownAt != at[0] || st[0].ownLevel != tc.keptLevel || st[0].blobAt != at[1]) {
			t.Errorf("%s: own blob point %v (level %d), pool's %v; want %v (level %d) and %v", tc.name, st[0].ownAt, st[0].ownLevel, st[0].blobAt, at[0], tc.keptLevel, at[1])
		}
	}
}
