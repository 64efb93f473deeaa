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
	"unsafe"

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
	// mean LIDC rating, 1 to 5), a list of readers' ratings such as
	// mal_details "[4, 2, 4, 2]" (each an integer 1 to 5; their mean is
	// used) or a boolean (True/False, yes/no; in a column named mal_bool
	// also 1/0). A rating that is not a finite number in that range is an
	// error naming the table, line and column. Rows with an empty
	// malignancy cell are skipped and reported; a table without a rated
	// row is an error. Every nodule's centre must lie within its scan's
	// volume (at most half a voxel beyond the grid), else the error names
	// the table, line and the scan's extent (ErrOffScan).
	Annotations string
	// MalignancyColumn names that column; empty tries "malignancy",
	// "mal_details", "mal_bool" in that order.
	MalignancyColumn string
	// MalignantMin is the rating at or above which a nodule is malignant
	// (default 3; 1 to 5; ignored for boolean columns).
	MalignantMin float64
	// Candidates is an optional LUNA16 candidates CSV (seriesuid, coordX,
	// coordY, coordZ, class); rows with class 0 become benign examples. It
	// is streamed: rows of series without a volume are dropped as they are
	// read. A class-0 row picked as an example whose centre lies outside
	// its scan's volume is an error, as for Annotations.
	Candidates string
	// NegativesPerScan caps the class-0 candidates taken per scan, chosen by
	// a reservoir sample per scan (seeded by Seed and the series UID) while
	// the table is read, so that at most this many rows per scan are held
	// (default 20; -1 = all, held in memory; -1 to 100,000).
	NegativesPerScan int
	// Seed drives the negative subsampling (Run sets it to Config.Seed):
	// the same tables and Seed pick the same candidates.
	Seed uint64
	// VolumeDir is searched, at any depth (LUNA16's subset0 … subset9
	// folders), for one volume per series named <seriesuid>.mhd, .mha,
	// .nii.gz or .nii (in that order of preference). Series of the tables
	// without a volume are skipped and reported (training on some subsets
	// with the full tables is normal); none at all is ErrNoVolume. A
	// volume that cannot be read is skipped with its series and reported
	// (Result.FailedVolumes); none readable is ErrNoReadableVolume.
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

// ErrNoReadableVolume reports LUNA16 tables whose series have volumes, none
// of which could be read.
var ErrNoReadableVolume = errors.New("train: no usable volume")

// ErrOffScan reports a table row whose centre lies more than half a voxel
// outside its scan's volume (another scan's row, or voxel or RAS
// coordinates): its patch would be air, not a nodule or a candidate.
var ErrOffScan = errors.New("lies outside the scan's volume")

// ErrNoRated reports an annotations table without a row that has a
// malignancy value.
var ErrNoRated = errors.New("no rated rows")

// point is one example-to-be: a table row of a series that has a volume.
type point struct {
	world volume.Vec3 // LPS mm
	label bool
	info  string
	line  int // the row's line in its table
}

// series collects the points of one series that has a volume file.
type series struct {
	uid, path string
	ann       []point // annotations, in table order
	neg       []point // the reservoir of class-0 candidates
	seen      int     // class-0 candidates read
	rng       *rand.Rand
}

// catalog is the series the tables name: those with a volume file get
// their points, the others are only counted.
type catalog struct {
	files   map[string]string // series UID -> volume file
	series  map[string]*series
	missing missingSeries
}

func newCatalog(files map[string]string) *catalog {
	return &catalog{files: files, series: map[string]*series{}}
}

// get returns uid's series, or nil (and counts uid as missing) when it has
// no volume file.
func (c *catalog) get(uid string) *series {
	if s, ok := c.series[uid]; ok {
		return s
	}
	path, ok := c.files[uid]
	if !ok {
		c.missing.add(uid)
		return nil
	}
	s := &series{uid: strings.Clone(uid), path: path} // not a slice of the CSV line
	c.series[s.uid] = s
	return s
}

// maxMissingTracked bounds the distinct series without a volume that are
// counted exactly (by a 64-bit hash each, about 2 MB at most for hostile
// tables; LUNA16 names 888 series, LIDC-IDRI 1,018); beyond it the count
// is reported as "more than".
const maxMissingTracked = 1 << 16

// missingSeries counts distinct series without a volume in bounded memory
// and keeps the first of them in sort order.
type missingSeries struct {
	seen  map[uint64]struct{} // uidHash of each, up to maxMissingTracked
	over  bool                // more than maxMissingTracked
	first string
}

func (m *missingSeries) add(uid string) {
	k := uidHash(uid)
	if _, ok := m.seen[k]; ok {
		return
	}
	switch {
	case m.seen == nil:
		m.seen = map[uint64]struct{}{}
	case len(m.seen) >= maxMissingTracked:
		m.over = true
	}
	if !m.over {
		m.seen[k] = struct{}{}
	}
	if m.first == "" || uid < m.first {
		m.first = strings.Clone(uid) // not a slice of the CSV line
	}
}

// addNegative offers p to s's reservoir of k class-0 candidates (all of
// them when k < 0): after n offers each of them is kept with probability
// k/n (Algorithm R), drawn from a stream of seed and s's UID, so that the
// pick of a scan depends only on its own rows and the seed.
func (s *series) addNegative(p point, k int, seed uint64) {
	s.seen++
	if k < 0 || len(s.neg) < k {
		s.neg = append(s.neg, p)
		return
	}
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(seed, 0x6e6567^uidHash(s.uid)))
	}
	if j := s.rng.IntN(s.seen); j < k {
		s.neg[j] = p
	}
}

// uidHash is the 64-bit FNV-1a hash of a series UID.
func uidHash(uid string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(uid); i++ {
		h = (h ^ uint64(uid[i])) * 1099511628211
	}
	return h
}

// lunaData is what loadLUNA read.
type lunaData struct {
	examples []example
	tables   []classify.Table
	scans    int
	skipped  []string
	failed   []VolumeFailure
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
	// The volumes first: rows of series without one are dropped as the
	// tables are read, so that memory follows the scans, not the rows.
	files, err := volumeFiles(opt.VolumeDir)
	if err != nil {
		return d, err
	}
	cat := newCatalog(files)
	ann, err := readAnnotations(ctx, opt, cat, &d)
	if err != nil {
		return d, err
	}
	var cand classify.Table
	if opt.Candidates != "" {
		if cand, err = readNegatives(ctx, opt, cat); err != nil {
			return d, err
		}
	}
	uids := make([]string, 0, len(cat.series))
	for u := range cat.series {
		uids = append(uids, u)
	}
	sort.Strings(uids)
	nMissing := len(cat.missing.seen)
	if len(uids) == 0 {
		n := fmt.Sprint(nMissing)
		if cat.missing.over {
			n = "more than " + n
		}
		return d, fmt.Errorf("%w: none of the %s series of the tables has <seriesuid>.mhd, .mha, .nii.gz or .nii under %s",
			ErrNoVolume, n, opt.VolumeDir)
	}
	for _, uid := range uids {
		if err := ctx.Err(); err != nil {
			return d, fmt.Errorf("train: reading volumes: %w", err)
		}
		s := cat.series[uid]
		v, err := opt.ReadHU(s.path)
		if err != nil {
			// One bad volume (corrupt, unreadable, over the memory
			// budget) costs its series, not the run, as in lungctl run.
			d.failed = append(d.failed, volumeFailure(uid, s.path, err))
			s.ann, s.neg, s.rng = nil, nil, nil
			continue
		}
		d.scans++
		for _, p := range append(s.ann, s.neg...) {
			table, what := opt.Annotations, "nodule"
			if p.info == candidateInfo {
				table, what = opt.Candidates, "class-0 candidate"
			}
			if err := checkInside(v.Grid, p.world); err != nil {
				return d, fmt.Errorf("train: %s: line %d: %s of scan %s at LPS (%.4g, %.4g, %.4g) mm %w; volume %s",
					table, p.line, what, uid, p.world[0], p.world[1], p.world[2], err, s.path)
			}
			c, err := crop(v, p.world, opt.CropMM)
			if err != nil {
				return d, fmt.Errorf("train: %s: %w", s.path, err)
			}
			d.examples = append(d.examples, example{Site: classify.Site{Vol: c, World: p.world}, label: p.label, info: uid + " " + p.info})
			if p.info == candidateInfo {
				cand.Rows++
			} else {
				ann.Rows++
			}
		}
		s.ann, s.neg, s.rng = nil, nil, nil // the crops are kept, the points no longer needed
	}
	if d.scans == 0 {
		return d, fmt.Errorf("%w: all %d volumes failed to read (first: %s)", ErrNoReadableVolume, len(d.failed), d.failed[0].Error)
	}
	if nMissing > 0 {
		n := fmt.Sprint(nMissing)
		total := fmt.Sprint(nMissing + len(uids))
		if cat.missing.over {
			n, total = "more than "+n, "more than "+total
		}
		d.skipped = append(d.skipped, fmt.Sprintf("%s of %s series have no volume under %s (first: %s)",
			n, total, opt.VolumeDir, cat.missing.first))
	}
	d.tables = append(d.tables, ann)
	if opt.Candidates != "" {
		d.tables = append(d.tables, cand)
	}
	return d, nil
}

// checkInside returns an error wrapping ErrOffScan, with g's extent (LPS
// mm), when world (LPS mm) lies more than half a voxel outside grid g: the
// rule lungctl classify applies to candidates (internal/pipeline).
func checkInside(g volume.Grid, world volume.Vec3) error {
	if !g.Covers(world) {
		return fmt.Errorf("%w (%s)", ErrOffScan, g.ExtentText())
	}
	return nil
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

// parseWorld reads a row's seriesuid (required) and its finite LPS
// coordinates (mm).
func parseWorld(row csvio.Row) (string, volume.Vec3, error) {
	w, err := row.World()
	if err != nil {
		return "", volume.Vec3{}, fmt.Errorf("train: %w", err)
	}
	uid := row.Get("seriesuid")
	if uid == "" {
		return "", volume.Vec3{}, fmt.Errorf("train: %w", row.Errorf("column seriesuid: empty"))
	}
	return uid, volume.Vec3(w), nil
}

// LIDC readers rate malignancy 1 (highly unlikely) to 5 (highly suspicious).
const minRating, maxRating = 1, 5

// parseMalignancy turns one malignancy cell into a label: a rating (1 to
// 5; a mean of readers' ratings may be fractional) or a list of readers'
// ratings (integers 1 to 5, their mean is used) is malignant at or above
// min; a boolean (true/false, yes/no, and 1/0 when boolCol) is the label.
// It returns a description of the value for the example's info.
func parseMalignancy(s string, min float64, boolCol bool) (bool, string, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "true", "yes":
		return true, s, nil
	case "false", "no":
		return false, s, nil
	}
	if boolCol {
		switch s {
		case "1":
			return true, s, nil
		case "0":
			return false, s, nil
		}
	}
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return false, s, fmt.Errorf("rating list without a closing ]")
		}
		f := strings.FieldsFunc(s[1:len(s)-1], func(r rune) bool { return r == ',' || r == ' ' })
		if len(f) == 0 {
			return false, s, fmt.Errorf("empty rating list")
		}
		var sum float64
		for i, x := range f {
			v, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return false, s, fmt.Errorf("rating %d of the list: %w", i+1, err)
			}
			if !(v >= minRating && v <= maxRating) || v != math.Trunc(v) {
				return false, s, fmt.Errorf("rating %d of the list is %s: a reader's rating is an integer %d to %d", i+1, x, minRating, maxRating)
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
	if !(v >= minRating && v <= maxRating) { // false for NaN
		return false, s, fmt.Errorf("a rating is a number %d to %d", minRating, maxRating)
	}
	return v >= min, fmt.Sprintf("rating %g", v), nil
}

// checkRows is how often (in rows) the table readers look at ctx.
const checkRows = 1 << 16

// readAnnotations reads the annotations table into cat: the points of
// series with a volume, the others counted as missing.
func readAnnotations(ctx context.Context, opt LUNAOptions, cat *catalog, d *lunaData) (classify.Table, error) {
	cr, tab, done, err := openTable("annotations", opt.Annotations, "seriesuid", "coordX", "coordY", "coordZ")
	if err != nil {
		return tab, err
	}
	defer done()
	cr.Hold(unsafe.Sizeof(point{})) // the rows of series with a volume are kept
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
		return tab, fmt.Errorf("train: %s: no malignancy column (looked for %v, have %v)", opt.Annotations, names, cr.Header())
	}
	rows, unrated := 0, 0
	for {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tab, fmt.Errorf("train: %w", err)
		}
		if rows++; rows%checkRows == 0 && ctx.Err() != nil {
			return tab, fmt.Errorf("train: reading %s: %w", opt.Annotations, ctx.Err())
		}
		uid, w, err := parseWorld(row)
		if err != nil {
			return tab, err
		}
		m := row.Get(d.column)
		if m == "" {
			unrated++
			continue
		}
		lab, info, err := parseMalignancy(m, opt.MalignantMin, d.column == "mal_bool")
		if err != nil {
			return tab, fmt.Errorf("train: %w", row.Errorf("column %s: malignancy %q: %w", d.column, m, err))
		}
		if s := cat.get(uid); s != nil {
			s.ann = append(s.ann, point{world: w, label: lab, info: "nodule, " + info, line: row.Line})
		}
	}
	if rows == unrated {
		return tab, fmt.Errorf("train: %s: %w: %d data rows, none with a value in column %s", opt.Annotations, ErrNoRated, rows, d.column)
	}
	if unrated > 0 {
		d.skipped = append(d.skipped, fmt.Sprintf("%d rows of %s have no %s value", unrated, opt.Annotations, d.column))
	}
	return tab, nil
}

// readNegatives streams the candidates table into cat: for each series
// with a volume, a reservoir sample of opt.NegativesPerScan class-0 rows
// (all of them for -1), seeded by opt.Seed and the series UID; rows of
// series without a volume are counted as missing and dropped.
func readNegatives(ctx context.Context, opt LUNAOptions, cat *catalog) (classify.Table, error) {
	cr, tab, done, err := openTable("candidates", opt.Candidates, "seriesuid", "coordX", "coordY", "coordZ", "class")
	if err != nil {
		return tab, err
	}
	defer done()
	k := opt.NegativesPerScan
	for rows := 1; ; rows++ {
		row, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tab, fmt.Errorf("train: %w", err)
		}
		if rows%checkRows == 0 && ctx.Err() != nil {
			return tab, fmt.Errorf("train: reading %s: %w", opt.Candidates, ctx.Err())
		}
		uid, w, err := parseWorld(row)
		if err != nil {
			return tab, err
		}
		switch row.Get("class") {
		case "":
			return tab, fmt.Errorf("train: %w", row.Errorf("no class"))
		case "0":
		default:
			continue
		}
		s := cat.get(uid)
		if s == nil {
			continue
		}
		s.addNegative(point{world: w, info: candidateInfo, line: row.Line}, k, opt.Seed)
	}
	for _, s := range cat.series {
		sort.Slice(s.neg, func(a, b int) bool { return s.neg[a].line < s.neg[b].line }) // table order
	}
	return tab, nil
}
