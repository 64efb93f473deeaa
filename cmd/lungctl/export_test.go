package main

// End-to-end tests of run --report --export, the report and snapshot
// commands, the scorers and the clinical covariates, on small phantom DICOM
// folders (and LIDC-IDRI-0001 outside -short).

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/lungctl/lungctl/internal/risk"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// checkScanOutputs checks one scan folder of a run with --report --export:
// the files, the record's new fields, the label map at candidate 1's
// centre, the DICOM objects (dicom says whether the input was DICOM) and
// one report section per candidate. It returns the record.
func checkScanOutputs(t *testing.T, dir, id string, dicom bool) pipeline.ScanRecord {
	t.Helper()
	var rec pipeline.ScanRecord
	readJSON(t, filepath.Join(dir, pipeline.DoneFile), &rec)
	raw := rawKeys(t, filepath.Join(dir, pipeline.DoneFile))
	for _, k := range []string{"cancer_probability", "scorer", "lung_rads", "emphysema_pct", "clinical", "tool_version"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("%s/done.json has no %q", id, k)
		}
	}
	if rec.ToolVersion != testVersion || rec.Clinical == nil || rec.Clinical.Sources == nil || rec.Clinical.Defaulted == nil {
		t.Errorf("%s/done.json: tool %q, clinical %+v", id, rec.ToolVersion, rec.Clinical)
	}
	// The kernel's blur, read from the air–skin edge: a phantom's body and
	// a real chest both have one, and no CT kernel blurs by 2 mm or more.
	if k := rec.KernelSigmaMM; k == nil || !(*k > 0.1 && *k < 2) {
		t.Errorf("%s/done.json: kernel_sigma_mm %v, want a read σ of 0.1–2 mm", id, k)
	}
	// The lung's noise, read from neighbouring voxels, and LAA-950 as read
	// beside the value the emphysema cut used (the same unless the noise
	// exceeds the reference, risk.NoiseRefHU).
	if n, e, raw := rec.LungNoiseHU, rec.EmphysemaPct, rec.EmphysemaRawPct; n == nil || !(*n > 1 && *n < 200) || e == nil || raw == nil ||
		*n <= risk.NoiseRefHU && *e != *raw {
		t.Errorf("%s/done.json: lung_noise_hu %v, emphysema_pct %v, emphysema_raw_pct %v", id, n, e, raw)
	}
	mrk, lab, seg, sr := pipeline.ExportNames(id)
	want := []string{mrk, lab, pipeline.ReportName(id)}
	if dicom {
		want = append(want, seg, sr)
	}
	for _, f := range want {
		if !slices.Contains(rec.Files, f) || !fileExists(filepath.Join(dir, f)) {
			t.Errorf("%s: %s missing (files %v)", id, f, rec.Files)
		}
	}
	cs, err := candidate.ReadFile(filepath.Join(dir, "candidates.csv"))
	if err != nil || len(cs) == 0 || cs[0].Type == "" {
		t.Fatalf("%s: candidates %v (%d), want candidate 1 measured", id, err, len(cs))
	}
	checkLabelAtCentre(t, filepath.Join(dir, lab), cs[0])
	if dicom {
		dciodvfy(t, filepath.Join(dir, seg))
		dciodvfy(t, filepath.Join(dir, sr))
	}
	html, err := os.ReadFile(filepath.Join(dir, pipeline.ReportName(id)))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(html, []byte(`data-finding="`)); n != len(cs) {
		t.Errorf("%s: report has %d finding sections for %d candidates", id, n, len(cs))
	}
	return rec
}

// checkLabelAtCentre: the label map holds label 1 at candidate 1's centre
// voxel, and its label-1 voxels' centroid lies within a voxel of it.
func checkLabelAtCentre(t *testing.T, path string, c candidate.Candidate) {
	t.Helper()
	m, err := volio.ReadMask(path)
	if err != nil {
		t.Fatal(err)
	}
	idx := m.WorldToIndex(volume.Vec3(c.World))
	i, j, k := int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))
	if got := m.At(i, j, k); got != 1 {
		t.Errorf("%s: label %d at candidate 1's centre %v (voxel %d,%d,%d), want 1", filepath.Base(path), got, c.World, i, j, k)
	}
	var sum volume.Vec3
	n := 0
	for kk := 0; kk < m.Dims[2]; kk++ {
		for jj := 0; jj < m.Dims[1]; jj++ {
			for ii := 0; ii < m.Dims[0]; ii++ {
				if m.At(ii, jj, kk) == 1 {
					w := m.IndexToWorld(volume.Vec3{float64(ii), float64(jj), float64(kk)})
					sum[0], sum[1], sum[2] = sum[0]+w[0], sum[1]+w[1], sum[2]+w[2]
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no voxel labelled 1", path)
	}
	d := math.Sqrt(sq(sum[0]/float64(n)-c.World[0]) + sq(sum[1]/float64(n)-c.World[1]) + sq(sum[2]/float64(n)-c.World[2]))
	if d > 1.5*m.Spacing[0] {
		t.Errorf("%s: label 1's centroid is %.2f mm from candidate 1's centre", filepath.Base(path), d)
	}
}

func sq(x float64) float64 { return x * x }

// TestRunReportExport is the end-to-end check on two phantom
// DICOM patients: run --report --export writes every file, a --force rerun
// gives the same files (the DICOM objects up to their new UIDs and times),
// and 'lungctl report' on the run folder writes the index and the same
// pages.
func TestRunReportExport(t *testing.T) {
	in, clinical := twoPatients(t)
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(in, out, "--report", "--export", "--clinical", clinical, "-j", "1")...)
	checkExit(t, r, exitOK, "run --report --export")
	recs := map[string]pipeline.ScanRecord{}
	for _, id := range []string{"PHANTOM-1", "PHANTOM-2"} {
		recs[id] = checkScanOutputs(t, filepath.Join(out, id), id, true)
	}
	index, _ := os.ReadFile(filepath.Join(out, pipeline.IndexFile))
	for _, id := range []string{"PHANTOM-1", "PHANTOM-2"} {
		if !bytes.Contains(index, []byte("./"+id+"/"+pipeline.ReportName(id))) {
			t.Errorf("index.html does not link %s's report", id)
		}
	}
	checkForcedRerun(t, in, out, clinical)

	rep := filepath.Join(t.TempDir(), "reports")
	r = lungctl(t, "report", out, "-o", rep, "--spacing", "2")
	checkExit(t, r, exitOK, "report OUT")
	for _, id := range []string{"PHANTOM-1", "PHANTOM-2"} {
		a, _ := os.ReadFile(filepath.Join(out, id, pipeline.ReportName(id)))
		b, err := os.ReadFile(filepath.Join(rep, id, pipeline.ReportName(id)))
		if err != nil || bytes.Count(a, []byte("data-finding=")) != bytes.Count(b, []byte("data-finding=")) {
			t.Errorf("report OUT: %s's page %v, differs in findings from run --report's", id, err)
		}
	}
	if !fileExists(filepath.Join(rep, pipeline.IndexFile)) {
		t.Error("report OUT wrote no index.html")
	}
	// A scan whose input is gone (and no volumes kept) fails alone.
	gone := filepath.Join(t.TempDir(), "gone")
	if err := os.CopyFS(gone, os.DirFS(out)); err != nil {
		t.Fatal(err)
	}
	done := filepath.Join(gone, "PHANTOM-2", pipeline.DoneFile)
	b, _ := os.ReadFile(done)
	if err := os.WriteFile(done, bytes.Replace(b, []byte(filepath.Join(in, "PHANTOM-2")), []byte(filepath.Join(in, "nowhere")), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	rep2 := filepath.Join(t.TempDir(), "reports2")
	r = lungctl(t, "report", gone, "-o", rep2, "--spacing", "2")
	checkExit(t, r, exitPartial, "report over a run whose input is gone")
	index, _ = os.ReadFile(filepath.Join(rep2, pipeline.IndexFile))
	if !fileExists(filepath.Join(rep2, "PHANTOM-1", pipeline.ReportName("PHANTOM-1"))) || !bytes.Contains(index, []byte("nowhere")) {
		t.Errorf("report over a run whose input is gone: PHANTOM-1's page and PHANTOM-2's failure expected\n%s", r.stderr)
	}
	// Every scan's input gone, into a folder not yet made: every report
	// fails, and the index still lists them (it failed with "no such file
	// or directory" and exit 1 before the folder was made first).
	done = filepath.Join(gone, "PHANTOM-1", pipeline.DoneFile)
	b, _ = os.ReadFile(done)
	if err := os.WriteFile(done, bytes.Replace(b, []byte(filepath.Join(in, "PHANTOM-1")), []byte(filepath.Join(in, "nowhere")), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	rep3 := filepath.Join(t.TempDir(), "new", "reports3")
	r = lungctl(t, "report", gone, "-o", rep3, "--spacing", "2")
	checkExit(t, r, exitPartial, "report over a run whose every input is gone")
	if !fileExists(filepath.Join(rep3, pipeline.IndexFile)) {
		t.Errorf("report over a run whose every input is gone: no index.html\n%s", r.stderr)
	}
}

// checkForcedRerun reruns with --force into a copy and compares every
// file: byte for byte, but done.json and summary.json (wall times) and the
// DICOM SEG and SR, which get new UIDs and creation times each time they
// are written (DICOM wants a new instance UID for each object made) and
// are compared without them.
func checkForcedRerun(t *testing.T, in, out, clinical string) {
	t.Helper()
	before := readTree(t, out)
	again := filepath.Join(t.TempDir(), "again")
	if err := os.CopyFS(again, os.DirFS(out)); err != nil {
		t.Fatal(err)
	}
	r := lungctl(t, runCmd(in, again, "--report", "--export", "--clinical", clinical, "-j", "1", "--force")...)
	checkExit(t, r, exitOK, "run --force")
	after := readTree(t, again)
	refs, err := dicomio.ReadRefs(filepath.Join(in, "PHANTOM-1"), dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{refs.StudyInstanceUID: true, refs.SeriesInstanceUID: true, refs.FrameOfReferenceUID: true}
	for _, s := range refs.Slices {
		keep[s.SOPInstanceUID] = true
	}
	for name, b := range before {
		switch {
		case name == "summary.json" || strings.HasSuffix(name, pipeline.DoneFile):
		case strings.HasSuffix(name, "_seg.dcm") || strings.HasSuffix(name, "_sr.dcm"):
			if !strings.HasPrefix(name, "PHANTOM-1/") {
				continue
			}
			if x, y := dicomFingerprint(t, filepath.Join(out, name), keep), dicomFingerprint(t, filepath.Join(again, name), keep); x != y {
				t.Errorf("--force gave a %s that differs beyond its UIDs and times", name)
			}
			if bytes.Equal(b, after[name]) {
				t.Errorf("--force rewrote %s with the same instance UID", name)
			}
		case !bytes.Equal(b, after[name]):
			t.Errorf("--force gave a different %s", name)
		}
	}
}

// TestExportNeedsDICOM: a NIfTI input gets the markups and the label map,
// no SEG or SR, and says why in done.json and in the log.
func TestExportNeedsDICOM(t *testing.T) {
	fx := phantomFixture(t)
	pre := filepath.Join(t.TempDir(), "pre")
	if r := lungctl(t, "preprocess", filepath.Join(fx, "PHANTOM-1"), "-o", pre, "--spacing", "2"); r.code != 0 {
		t.Fatalf("preprocess: %s", r.stderr)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(filepath.Join(pre, "PHANTOM-1.nii.gz"), out, "--export", "--report")...)
	checkExit(t, r, exitOK, "run on a NIfTI with --export")
	const why = "DICOM export needs a DICOM source"
	if !strings.Contains(r.stderr, why) {
		t.Errorf("the log does not say %q:\n%s", why, r.stderr)
	}
	rec := checkScanOutputs(t, filepath.Join(out, "PHANTOM-1"), "PHANTOM-1", false)
	if !strings.Contains(strings.Join(rec.Warnings, "\n"), why) {
		t.Errorf("done.json warnings %q do not say %q", rec.Warnings, why)
	}
	_, _, seg, sr := pipeline.ExportNames("PHANTOM-1")
	for _, f := range []string{seg, sr} {
		if fileExists(filepath.Join(out, "PHANTOM-1", f)) {
			t.Errorf("%s written for a NIfTI input", f)
		}
	}
}

// TestRunLIDCReportExport runs the real LIDC-IDRI-0001 series with every
// export and the report: the same checks as on the phantoms, and the
// exports' time (logged, compared by nothing: see the README).
func TestRunLIDCReportExport(t *testing.T) {
	if testing.Short() {
		t.Skip("LIDC-IDRI-0001 at 1 mm: several seconds")
	}
	dir := filepath.Join(shareddata.Path(), "lidc-idri-0001")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, "run", dir, "-o", out, "--report", "--export")
	checkExit(t, r, exitOK, "run LIDC-IDRI-0001 --report --export")
	rec := checkScanOutputs(t, filepath.Join(out, "LIDC-IDRI-0001"), "LIDC-IDRI-0001", true)
	t.Logf("LIDC-IDRI-0001: exports %.3f s, report %.3f s of %.3f s; Lung-RADS %s, cancer %.3f",
		rec.Seconds["export"], rec.Seconds["report"], rec.Seconds["total"], rec.LungRADS, rec.Cancer)
}

// TestRunA0002Reported runs the real Lung-PET-CT-Dx A0002 series (an
// adenocarcinoma of about 50 × 50 × 70 mm against the mediastinum) and
// requires the patient's record to report it: at least one reported nodule
// and Lung-RADS 4B or 4X. At the second stage's even odds (0.5) the mass,
// scoring 0.40, went unreported and the patient read Lung-RADS 1.
func TestRunA0002Reported(t *testing.T) {
	if testing.Short() {
		t.Skip("A0002 end to end: several seconds")
	}
	dir := filepath.Join(shareddata.Path(), "lung-pet-ct-dx-a0002-siemens", "Lung-PET-CT-Dx")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, "run", dir, "-o", out)
	checkExit(t, r, exitOK, "run A0002")
	done, err := filepath.Glob(filepath.Join(out, "*", "done.json"))
	if err != nil || len(done) != 1 {
		t.Fatalf("want one done.json under %s: %v %v", out, done, err)
	}
	rec, err := pipeline.ReadDone(filepath.Dir(done[0]))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Reported < 1 || (rec.LungRADS != "4B" && rec.LungRADS != "4X") {
		t.Errorf("A0002: %d reported nodules, Lung-RADS %q; want the mass reported, 4B or 4X", rec.Reported, rec.LungRADS)
	}
}
