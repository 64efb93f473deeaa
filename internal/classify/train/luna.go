package train

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/csvio"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// LUNAOptions configures LUNA16/LIDC training data (Config.Source
// classify.SourceLUNA16).
type LUNAOptions struct {
	// Annotations is a LUNA16-style CSV (seriesuid, coordX, coordY, coordZ,
	// LPS mm) with a malignancy column: a number (e.g. "malignancy", the
	// mean LIDC rating), a rating list such as mal_details "[4, 2, 4, 2]"
	// (their mean is used) or a boolean such as mal_bool. Rows with an
	// empty malignancy cell are skipped and reported.
	Annotations string
	// MalignancyColumn names that column; empty tries "malignancy",
	// "mal_details", "mal_bool" in that order.
	MalignancyColumn string
	// MalignantMin is the rating at or above which a nodule is malignant
	// (default 3; 1 to 5; ignored for boolean columns).
	MalignantMin float64
	// Candidates is an optional LUNA16 candidates CSV (seriesuid, coordX,
	// coordY, coordZ, class); rows with class 0 become benign examples.
	Candidates string
	// NegativesPerScan caps the class-0 candidates taken per scan, chosen by
	// a seeded shuffle (default 20; -1 = all; -1 to 100,000).
	NegativesPerScan int
	// Seed drives the negative subsampling (Run sets it to Config.Seed).
	Seed uint64
	// VolumeDir is searched, at any depth (LUNA16's subset0 … subset9
	// folders), for one volume per series named <seriesuid>.mhd, .mha,
	// .nii.gz or .nii (in that order of preference). Series of the tables
	// without a volume are skipped and reported (training on some subsets
	// with the full tables is normal); none at all is ErrNoVolume.
	VolumeDir string
	// ReadHU reads a volume in HU; nil means internal/volio.ReadHU.
	ReadHU func(path string) (*volume.Volume[int16], error)
	// CropMM is the half-side (mm) of the cube kept around each example
	// (Run's default: the patch's reach plus 1 mm; 0 to 200).
	CropMM float64
}

func (o LUNAOptions) validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: LUNA.%s = %v, want %s", ErrConfig, field, v, want)
	}
	switch {
	case o.Annotations == "":
		return bad("Annotations", `""`, "an annotations CSV")
	case o.VolumeDir == "":
		return bad("VolumeDir", `""`, "a folder of volumes")
	case o.MalignantMin != 0 && !(o.MalignantMin >= 1 && o.MalignantMin <= 5):
		return bad("MalignantMin", o.MalignantMin, "1 to 5")
	case o.NegativesPerScan < -1 || o.NegativesPerScan > 100_000:
		return bad("NegativesPerScan", o.NegativesPerScan, "-1 (all) to 100000")
	case !(o.CropMM >= 0 && o.CropMM <= 200):
		return bad("CropMM", o.CropMM, "0 to 200")
	}
	return nil
}

// ErrNoVolume reports LUNA16 tables none of whose series has a volume.
var ErrNoVolume = errors.New("train: no volume for any series")

type point struct {
	uid   string
	world volume.Vec3
	label bool
	info  string
}

// lunaData is what loadLUNA read.
type lunaData struct {
	examples []example
	tables   []classify.Table
	scans    int
	skipped  []string
	column   string // the malignancy column used
	min      float64
	perScan  int
}

func (d lunaData) describe(o LUNAOptions) string {
	s := fmt.Sprintf("LUNA16/LIDC CT: nodules of %s, malignant when column %s", filepath.Base(o.Annotations), d.column)
	if d.column != "mal_bool" {
		s += fmt.Sprintf(" (mean reader rating) >= %g", d.min)
	}
	if o.Candidates != "" {
		s += fmt.Sprintf("; benign also: class-0 candidates of %s", filepath.Base(o.Candidates))
		if d.perScan > 0 {
			s += fmt.Sprintf(" (at most %d per scan)", d.perScan)
		}
	}
	return s
}

// volumeFiles maps series UIDs to volume files under dir, at any depth.
func volumeFiles(dir string) (map[string]string, error) {
	exts := []string{".mhd", ".mha", ".nii.gz", ".nii"}
	rank := map[string]int{}
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		for r, e := range exts {
			if uid, ok := strings.CutSuffix(name, e); ok && uid != "" {
				if old, seen := rank[uid]; !seen || r < old {
					rank[uid], files[uid] = r, p
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("train: volumes: %w", err)
	}
	return files, nil
}

// loadLUNA builds training examples from LUNA16/LIDC-style tables: one per
// annotation (label from the malignancy column) and class-0 candidates as
// benign examples. Each volume is read once and only a small crop around
// each example is kept in memory.
func loadLUNA(ctx context.Context, opt LUNAOptions) (lunaData, error) {
	var d lunaData
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
	d.min, d.perScan = opt.MalignantMin, opt.NegativesPerScan
	pts, ann, err := readAnnotations(opt, &d)
	if err != nil {
		return d, err
	}
	var neg []point
	var cand classify.Table
	if opt.Candidates != "" {
		if neg, cand, err = readNegatives(opt); err != nil {
			return d, err
		}
	}
	files, err := volumeFiles(opt.VolumeDir)
	if err != nil {
		return d, err
	}
	byUID := map[string][]point{}
	var uids []string
	for _, p := range append(pts, neg...) {
		if _, ok := byUID[p.uid]; !ok {
			uids = append(uids, p.uid)
		}
		byUID[p.uid] = append(byUID[p.uid], p)
	}
	sort.Strings(uids)
	var missing []string
	for _, uid := range uids {
		if err := ctx.Err(); err != nil {
			return d, fmt.Errorf("train: reading volumes: %w", err)
		}
		path, ok := files[uid]
		if !ok {
			missing = append(missing, uid)
			continue
		}
		v, err := opt.ReadHU(path)
		if err != nil {
			return d, fmt.Errorf("train: %s: %w", path, err)
		}
		d.scans++
		for _, p := range byUID[uid] {
			c, err := crop(v, p.world, opt.CropMM)
			if err != nil {
				return d, fmt.Errorf("train: %s: %w", path, err)
			}
			d.examples = append(d.examples, example{Site: classify.Site{Vol: c, World: p.world}, label: p.label, info: uid + " " + p.info})
			if p.info == candidateInfo {
				cand.Rows++
			} else {
				ann.Rows++
			}
		}
	}
	if d.scans == 0 {
		return d, fmt.Errorf("%w: none of the %d series of the tables has <seriesuid>.mhd, .mha, .nii.gz or .nii under %s",
			ErrNoVolume, len(uids), opt.VolumeDir)
	}
	if len(missing) > 0 {
		d.skipped = append(d.skipped, fmt.Sprintf("%d of %d series have no volume under %s (first: %s)",
			len(missing), len(uids), opt.VolumeDir, missing[0]))
	}
	d.tables = append(d.tables, ann)
	if opt.Candidates != "" {
		d.tables = append(d.tables, cand)
	}
	return d, nil
}

// candidateInfo marks points from the candidates table.
const candidateInfo = "candidate class 0"

// crop copies the voxels of v within halfMM (mm, along each axis) of world
// into a new volume on the same grid geometry (voxels outside v are −1000 HU).
func crop(v *volume.Volume[int16], world volume.Vec3, halfMM float64) (*volume.Volume[int16], error) {
	c := v.WorldToIndex(world)
	var lo [3]int
	g := v.Grid
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

// openTable opens a header-keyed CSV table (csvio's reader, so a header
// and cells are read as the candidate and annotation tables of the rest of
// lungctl are), checks that it has cols and returns it with its
// provenance: role, base name and the hex SHA-256 of the file, and a
// function that closes it. The hash is taken in a first pass over the
// file, streamed: LUNA16's candidates table is 60 MB and nothing bounds a
// table given here, so neither pass holds the file in memory.
func openTable(role, path string, cols ...string) (*csvio.Reader, classify.Table, func(), error) {
	tab := classify.Table{Role: role, File: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		return nil, tab, nil, fmt.Errorf("train: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		_ = f.Close() // the read error is the one to report
		return nil, tab, nil, fmt.Errorf("train: read %s: %w", path, err)
	}
	tab.SHA256 = hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, tab, nil, fmt.Errorf("train: %s: %w", path, err)
	}
	done := func() { _ = f.Close() } // read only: closing loses nothing
	cr, err := csvio.NewReader(bufio.NewReader(f), path)
	if err != nil {
		done()
		return nil, tab, nil, fmt.Errorf("train: %w", err)
	}
	if err := cr.Require(cols...); err != nil {
		done()
		return nil, tab, nil, fmt.Errorf("train: %w", err)
	}
	return cr, tab, done, nil
}

// parseWorld reads a row's seriesuid and its finite LPS coordinates (mm).
func parseWorld(row csvio.Row) (string, volume.Vec3, error) {
	w, err := row.World()
	if err != nil {
		return "", volume.Vec3{}, fmt.Errorf("train: %w", err)
	}
	return row.Get("seriesuid"), volume.Vec3(w), nil
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

func readAnnotations(opt LUNAOptions, d *lunaData) ([]point, classify.Table, error) {
	cr, tab, done, err := openTable("annotations", opt.Annotations, "seriesuid", "coordX", "coordY", "coordZ")
	if err != nil {
		return nil, tab, err
	}
	defer done()
	names := []string{"malignancy", "mal_details", "mal_bool"}
	if opt.MalignancyColumn != "" {
		names = []string{opt.MalignancyColumn}
	}
	for _, n := range names {
		if cr.Has(n) {
			d.column = n
			break
		}
	}
	if d.column == "" {
		return nil, tab, fmt.Errorf("train: %s: no malignancy column (looked for %v, have %v)", opt.Annotations, names, cr.Header())
	}
	var pts []point
	unrated := 0
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, tab, fmt.Errorf("train: %w", err)
		}
		uid, w, err := parseWorld(row)
		if err != nil {
			return nil, tab, err
		}
		m := row.Get(d.column)
		if m == "" {
			unrated++
			continue
		}
		lab, info, err := parseMalignancy(m, opt.MalignantMin)
		if err != nil {
			return nil, tab, fmt.Errorf("train: %w", row.Errorf("malignancy %q: %w", m, err))
		}
		pts = append(pts, point{uid: uid, world: w, label: lab, info: "nodule, " + info})
	}
	if unrated > 0 {
		d.skipped = append(d.skipped, fmt.Sprintf("%d rows of %s have no %s value", unrated, opt.Annotations, d.column))
	}
	return pts, tab, nil
}

func readNegatives(opt LUNAOptions) ([]point, classify.Table, error) {
	cr, tab, done, err := openTable("candidates", opt.Candidates, "seriesuid", "coordX", "coordY", "coordZ", "class")
	if err != nil {
		return nil, tab, err
	}
	defer done()
	per := map[string][]point{}
	var uids []string
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, tab, fmt.Errorf("train: %w", err)
		}
		uid, w, err := parseWorld(row)
		if err != nil {
			return nil, tab, err
		}
		switch row.Get("class") {
		case "":
			return nil, tab, fmt.Errorf("train: %w", row.Errorf("no class"))
		case "0":
		default:
			continue
		}
		if _, ok := per[uid]; !ok {
			uids = append(uids, uid)
		}
		per[uid] = append(per[uid], point{uid: uid, world: w, info: candidateInfo})
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
	return out, tab, nil
}
