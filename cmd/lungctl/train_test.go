package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestTrainChecksOutputFirst: -o's folder is created before training, and
// an -o that is a folder, a symbolic link to a file or a dangling link is
// refused before any training, naming it.
func TestTrainChecksOutputFirst(t *testing.T) {
	dir := t.TempDir()
	tiny := []string{"train", "--source", "synth", "--n", "8", "--epochs", "1", "--channels", "1", "--batch", "8"}
	out := filepath.Join(dir, "missing", "sub", "o.lcnn")
	r := lungctl(t, append(tiny, "-o", out)...)
	checkExit(t, r, exitOK, "train -o into a missing folder")
	if !fileExists(out) {
		t.Fatalf("train -o %s: no model written", out)
	}
	file := filepath.Join(dir, "file.lcnn")
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link, dangling := filepath.Join(dir, "link.lcnn"), filepath.Join(dir, "dangling.lcnn")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for o, say := range map[string]string{dir: "it is a folder", link: "symbolic link", dangling: "leads nowhere",
		filepath.Join(file, "o.lcnn"): "not a directory"} {
		r := lungctl(t, append(tiny, "-o", o)...)
		if r.code != exitFailure || !strings.Contains(r.stderr, o) || !strings.Contains(r.stderr, say) ||
			strings.Contains(r.stderr, "epoch") {
			t.Errorf("train -o %s: exit %d, want %d saying %q before training:\n%s", o, r.code, exitFailure, say, r.stderr)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "old" {
		t.Errorf("the link's target was written: %q", b)
	}
}

// TestTrainLUNARefusesBadRows: nodules outside their scan, impossible
// ratings and a table without a rated row are refused naming the table and
// line (or the table), and no model is written.
func TestTrainLUNARefusesBadRows(t *testing.T) {
	dir := t.TempDir()
	g := volume.Grid{Dims: [3]int{24, 24, 12}, Spacing: volume.Vec3{1, 1, 2}, Origin: volume.Vec3{-12, -12, -12}, Direction: volume.Identity}
	v := volume.New[int16](g)
	if err := os.MkdirAll(filepath.Join(dir, "vols"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := volio.WriteNIfTI(filepath.Join(dir, "vols", "1.2.3.nii.gz"), v, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	const head = "seriesuid,coordX,coordY,coordZ,malignancy\n"
	for name, tc := range map[string]struct{ ann, cand, say string }{
		"outside":   {head + "1.2.3,0,0,0,4\n1.2.3,5000,5000,5000,4\n", "", "outside.csv: line 3: nodule of scan 1.2.3 at LPS (5000, 5000, 5000) mm lies outside the scan's volume (x -12.5…11.5"},
		"candidate": {head + "1.2.3,0,0,0,4\n1.2.3,1,1,1,2\n", "seriesuid,coordX,coordY,coordZ,class\n1.2.3,-5000,0,0,0\n", "cand.csv: line 2: class-0 candidate of scan 1.2.3"},
		"nan":       {head + "1.2.3,0,0,0,NaN\n", "", "nan.csv: line 2: column malignancy"},
		"seven":     {head + "1.2.3,0,0,0,4\n1.2.3,0,0,0,7\n", "", "seven.csv: line 3: column malignancy: malignancy \"7\""},
		"list":      {"seriesuid,coordX,coordY,coordZ,mal_details\n1.2.3,0,0,0,\"[9, 9]\"\n", "", "list.csv: line 2: column mal_details"},
		"empty":     {head, "", "empty.csv: no rated rows"},
		"unrated":   {head + "1.2.3,0,0,0,\n", "", "unrated.csv: no rated rows"},
	} {
		ann := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(ann, []byte(tc.ann), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".lcnn")
		args := []string{"train", "--annotations", ann, "--volumes", filepath.Join(dir, "vols"), "--epochs", "1", "--channels", "1", "-o", out}
		if tc.cand != "" {
			c := filepath.Join(dir, "cand.csv")
			if err := os.WriteFile(c, []byte(tc.cand), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--candidates", c)
		}
		r := lungctl(t, args...)
		if r.code != exitFailure || !strings.Contains(r.stderr, tc.say) || fileExists(out) {
			t.Errorf("%s: exit %d, want %d saying %q and no model:\n%s", name, r.code, exitFailure, tc.say, r.stderr)
		}
	}
}

// TestTrainSkipsBadVolumes: a corrupt volume and a dangling link do not stop
// training (as a failed scan does not stop run): each is a warning naming
// its file once, the closing line and the card count them, and the model is
// written from the readable volume. With no readable volume left train
// fails, saying so.
func TestTrainSkipsBadVolumes(t *testing.T) {
	dir := t.TempDir()
	vols := filepath.Join(dir, "vols")
	if err := os.MkdirAll(vols, 0o755); err != nil {
		t.Fatal(err)
	}
	g := volume.Grid{Dims: [3]int{24, 24, 12}, Spacing: volume.Vec3{1, 1, 2}, Origin: volume.Vec3{-12, -12, -12}, Direction: volume.Identity}
	good := filepath.Join(vols, "1.2.3.nii.gz")
	if err := volio.WriteNIfTI(good, volume.New[int16](g), volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	corrupt, dangling := filepath.Join(vols, "4.5.6.nii.gz"), filepath.Join(vols, "7.8.9.mhd")
	if err := os.WriteFile(corrupt, []byte("not a volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	ann := filepath.Join(dir, "ann.csv")
	rows := "seriesuid,coordX,coordY,coordZ,malignancy\n"
	for i, uid := range []string{"1.2.3", "4.5.6", "7.8.9"} {
		for j := 0; j < 6; j++ {
			rows += fmt.Sprintf("%s,%d,%d,0,%d\n", uid, j-3, i, 1+4*(j%2))
		}
	}
	if err := os.WriteFile(ann, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	// onceEach: every stderr line naming a bad file names it once.
	onceEach := func(what, stderr string, paths ...string) {
		t.Helper()
		for _, p := range paths {
			lines := 0
			for _, l := range strings.Split(stderr, "\n") {
				if n := strings.Count(l, p); n > 1 {
					t.Errorf("%s: %s named %d times in one line: %s", what, p, n, l)
				} else if n == 1 && strings.Contains(l, "volume failed") {
					lines++
				}
			}
			if lines != 1 {
				t.Errorf("%s: %d warnings naming %s, want 1:\n%s", what, lines, p, stderr)
			}
		}
	}
	out := filepath.Join(dir, "m.lcnn")
	args := []string{"train", "--annotations", ann, "--volumes", vols, "--epochs", "1", "--channels", "1", "--batch", "4"}
	r := lungctl(t, append(args, "-o", out)...)
	checkExit(t, r, exitPartial, "train with two bad volumes of three")
	onceEach("train", r.stderr, corrupt, dangling)
	if !strings.Contains(r.stderr, "scans=1 volumes_failed=2") {
		t.Errorf("the closing line does not count the failed volumes:\n%s", r.stderr)
	}
	m, err := classify.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Card().Data; d.Scans != 1 || d.ScansFailed != 2 {
		t.Errorf("card: %d scans, %d failed; want 1 and 2", d.Scans, d.ScansFailed)
	}
	if err := os.Remove(good); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(dir, "none.lcnn")
	r = lungctl(t, append(args, "-o", out2)...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "no usable volume: all 2 volumes failed to read") || fileExists(out2) {
		t.Errorf("train with no readable volume: exit %d, want %d saying so and no model:\n%s", r.code, exitFailure, r.stderr)
	}
	for _, p := range []string{corrupt, dangling} {
		for _, l := range strings.Split(r.stderr, "\n") {
			if n := strings.Count(l, p); n > 1 {
				t.Errorf("no readable volume: %s named %d times in one line: %s", p, n, l)
			}
		}
	}
}
