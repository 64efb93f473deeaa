package classify

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// LUNAOptions configures LoadLUNA.
type LUNAOptions struct {
	// Annotations is a LUNA16-style CSV (seriesuid, coordX, coordY, coordZ,
	// LPS mm) with a malignancy column: a number (e.g. "malignancy", the
	// mean LIDC rating), a rating list such as mal_details "[4, 2, 4, 2]"
	// (their mean is used) or a boolean such as mal_bool.
	Annotations string
	// MalignancyColumn names that column; empty tries "malignancy",
	// "mal_details", "mal_bool" in that order.
	MalignancyColumn string
	// MalignantMin is the rating at or above which a nodule is malignant
	// (default 3; ignored for boolean columns).
	MalignantMin float64
	// Candidates is an optional LUNA16 candidates CSV (seriesuid, coordX,
	// coordY, coordZ, class); rows with class 0 become benign examples.
	Candidates string
	// NegativesPerScan caps the class-0 candidates taken per scan, chosen by
	// a seeded shuffle (default 20; negative = all).
	NegativesPerScan int
	// Seed drives the negative subsampling.
	Seed uint64
	// VolumeDir holds one volume per series, named <seriesuid>.mhd,
	// .nii.gz or .nii (searched in that order).
	VolumeDir string
	// ReadHU reads a volume in HU; nil means internal/volio.ReadHU.
	ReadHU func(path string) (*volume.Volume[int16], error)
	// CropMM is the half-side of the cube kept around each example (default
	// 24 mm: enough for a 32 mm patch with shifts and rotations).
	CropMM float64
}

// ErrNoVolume reports a series listed in a CSV with no volume file.
var ErrNoVolume = errors.New("classify: no volume for series")

type point struct {
	uid   string
	world volume.Vec3
	label bool
	info  string
}

// LoadLUNA builds training examples from LUNA16/LIDC-style tables: one per
// annotation (label from the malignancy column) and class-0 candidates as
// benign examples. Each volume is read once and only a small crop around
// each example is kept in memory. Series with no volume file are an error
// (ErrNoVolume) naming the series and folder.
func LoadLUNA(opt LUNAOptions) ([]Example, error) {
	if opt.ReadHU == nil {
		opt.ReadHU = volio.ReadHU
	}
	if opt.MalignantMin == 0 {
		opt.MalignantMin = 3
	}
	if opt.NegativesPerScan == 0 {
		opt.NegativesPerScan = 20
	}
	if opt.CropMM <= 0 {
		opt.CropMM = 24
	}
	pts, err := readAnnotations(opt)
	if err != nil {
		return nil, err
	}
	if opt.Candidates != "" {
		neg, err := readNegatives(opt)
		if err != nil {
			return nil, err
		}
		pts = append(pts, neg...)
	}
	byUID := map[string][]point{}
	var uids []string
	for _, p := range pts {
		if _, ok := byUID[p.uid]; !ok {
			uids = append(uids, p.uid)
		}
		byUID[p.uid] = append(byUID[p.uid], p)
	}
	sort.Strings(uids)
	var ex []Example
	for _, uid := range uids {
		path := ""
		for _, ext := range []string{".mhd", ".nii.gz", ".nii"} {
			p := filepath.Join(opt.VolumeDir, uid+ext)
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return nil, fmt.Errorf("%w %s in %s (want <seriesuid>.mhd, .nii.gz or .nii)", ErrNoVolume, uid, opt.VolumeDir)
		}
		v, err := opt.ReadHU(path)
		if err != nil {
			return nil, fmt.Errorf("classify: %s: %w", path, err)
		}
		for _, p := range byUID[uid] {
			c, err := Crop(v, p.world, opt.CropMM)
			if err != nil {
				return nil, fmt.Errorf("classify: %s: %w", path, err)
			}
			ex = append(ex, Example{Vol: c, World: p.world, Label: p.label, Info: uid + " " + p.info})
		}
	}
	return ex, nil
}

// Crop copies the voxels of v within halfMM (mm, along each axis) of world
// into a new volume on the same grid geometry (voxels outside v are −1000 HU).
func Crop(v *volume.Volume[int16], world volume.Vec3, halfMM float64) (*volume.Volume[int16], error) {
	c := v.WorldToIndex(world)
	var lo [3]int
	var g volume.Grid = v.Grid
	for a := 0; a < 3; a++ {
		h := int(math.Ceil(halfMM/v.Spacing[a])) + 1
		if math.IsNaN(c[a]) || math.Abs(c[a]) > 1e7 {
			return nil, fmt.Errorf("point %v mm maps to index %v", world, c)
		}
		lo[a] = int(math.Floor(c[a])) - h
		g.Dims[a] = 2*h + 2
	}
	g.Origin = v.IndexToWorld(volume.Vec3{float64(lo[0]), float64(lo[1]), float64(lo[2])})
	out := volume.New[int16](g)
	n := 0
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				x, y, z := lo[0]+i, lo[1]+j, lo[2]+k
				if v.In(x, y, z) {
					out.Data[n] = v.At(x, y, z)
				} else {
					out.Data[n] = -1000
				}
				n++
			}
		}
	}
	return out, nil
}

func readCSV(path string) ([]string, [][]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("classify: %w", err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("classify: %s: header: %w", path, err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(strings.TrimPrefix(head[i], "\ufeff"))
	}
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("classify: %s: %w", path, err)
		}
		rows = append(rows, rec)
	}
	return head, rows, nil
}

func colIndex(head []string, path string, names ...string) ([]int, error) {
	var idx []int
	for _, n := range names {
		found := -1
		for i, h := range head {
			if h == n {
				found = i
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("classify: %s: missing column %q (have %v)", path, n, head)
		}
		idx = append(idx, found)
	}
	return idx, nil
}

func parseWorld(rec []string, ci []int, path string, line int) (string, volume.Vec3, error) {
	var w volume.Vec3
	for _, i := range ci {
		if i >= len(rec) {
			return "", w, fmt.Errorf("classify: %s: line %d: too few fields", path, line)
		}
	}
	for a := 0; a < 3; a++ {
		x, err := strconv.ParseFloat(strings.TrimSpace(rec[ci[a+1]]), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return "", w, fmt.Errorf("classify: %s: line %d: bad coordinate %q", path, line, rec[ci[a+1]])
		}
		w[a] = x
	}
	return strings.TrimSpace(rec[ci[0]]), w, nil
}

// parseMalignancy turns one malignancy cell into a rating (lists → mean)
// or, for booleans, a label.
func parseMalignancy(s string, min float64) (bool, string, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "true", "yes":
		return true, s, nil
	case "false", "no":
		return false, s, nil
	}
	if strings.HasPrefix(s, "[") {
		f := strings.FieldsFunc(strings.Trim(s, "[]"), func(r rune) bool { return r == ',' || r == ' ' })
		if len(f) == 0 {
			return false, s, fmt.Errorf("empty rating list")
		}
		var sum float64
		for _, x := range f {
			v, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return false, s, err
			}
			sum += v
		}
		m := sum / float64(len(f))
		return m >= min, fmt.Sprintf("mean rating %.2f", m), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false, s, err
	}
	return v >= min, fmt.Sprintf("rating %g", v), nil
}

func readAnnotations(opt LUNAOptions) ([]point, error) {
	head, rows, err := readCSV(opt.Annotations)
	if err != nil {
		return nil, err
	}
	ci, err := colIndex(head, opt.Annotations, "seriesuid", "coordX", "coordY", "coordZ")
	if err != nil {
		return nil, err
	}
	names := []string{"malignancy", "mal_details", "mal_bool"}
	if opt.MalignancyColumn != "" {
		names = []string{opt.MalignancyColumn}
	}
	mc := -1
	for _, n := range names {
		if i, err := colIndex(head, opt.Annotations, n); err == nil {
			mc = i[0]
			break
		}
	}
	if mc < 0 {
		return nil, fmt.Errorf("classify: %s: no malignancy column (looked for %v, have %v)", opt.Annotations, names, head)
	}
	var pts []point
	for li, rec := range rows {
		uid, w, err := parseWorld(rec, ci, opt.Annotations, li+2)
		if err != nil {
			return nil, err
		}
		if mc >= len(rec) {
			return nil, fmt.Errorf("classify: %s: line %d: no malignancy value", opt.Annotations, li+2)
		}
		lab, info, err := parseMalignancy(rec[mc], opt.MalignantMin)
		if err != nil {
			return nil, fmt.Errorf("classify: %s: line %d: malignancy %q: %v", opt.Annotations, li+2, rec[mc], err)
		}
		pts = append(pts, point{uid: uid, world: w, label: lab, info: "nodule, " + info})
	}
	return pts, nil
}

func readNegatives(opt LUNAOptions) ([]point, error) {
	head, rows, err := readCSV(opt.Candidates)
	if err != nil {
		return nil, err
	}
	ci, err := colIndex(head, opt.Candidates, "seriesuid", "coordX", "coordY", "coordZ", "class")
	if err != nil {
		return nil, err
	}
	per := map[string][]point{}
	var uids []string
	for li, rec := range rows {
		uid, w, err := parseWorld(rec, ci, opt.Candidates, li+2)
		if err != nil {
			return nil, err
		}
		if ci[4] >= len(rec) {
			return nil, fmt.Errorf("classify: %s: line %d: no class", opt.Candidates, li+2)
		}
		if strings.TrimSpace(rec[ci[4]]) != "0" {
			continue
		}
		if _, ok := per[uid]; !ok {
			uids = append(uids, uid)
		}
		per[uid] = append(per[uid], point{uid: uid, world: w, info: "candidate class 0"})
	}
	sort.Strings(uids)
	r := rand.New(rand.NewPCG(opt.Seed, 0x6e6567))
	var out []point
	for _, u := range uids {
		p := per[u]
		if opt.NegativesPerScan > 0 && len(p) > opt.NegativesPerScan {
			r.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
			p = p[:opt.NegativesPerScan]
		}
		out = append(out, p...)
	}
	return out, nil
}
