package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// srExpect is what check_sr.py compares an SR with.
type srExpect struct {
	Study    string            `json:"study"`
	Series   string            `json:"series"`
	FOR      string            `json:"for"`
	SOPs     []string          `json:"sops"`
	SEG      string            `json:"seg"`
	Tracking map[string]string `json:"tracking"`
	Findings []srFinding       `json:"findings"`
}

type srFinding struct {
	Rank     int        `json:"rank"`
	Label    string     `json:"label"`
	Centre   [3]float64 `json:"centre"`
	Long     *float64   `json:"long"`
	Short    *float64   `json:"short"`
	Mean     *float64   `json:"mean"`
	Volume   *float64   `json:"volume"`
	Type     string     `json:"type"`
	LungRADS string     `json:"lungrads"`
}

// expectFor is what check_sr.py must find in the SR of case c written
// with the SEG seg.
func expectFor(c *testCase, seg *Instance) srExpect {
	exp := srExpect{Study: c.refs.StudyInstanceUID, Series: c.refs.SeriesInstanceUID, FOR: c.refs.FrameOfReferenceUID,
		SEG: seg.SOPInstanceUID, Tracking: map[string]string{}}
	for _, s := range c.refs.Slices {
		exp.SOPs = append(exp.SOPs, s.SOPInstanceUID)
	}
	for r, u := range seg.TrackingUIDs {
		exp.Tracking[itoa(r)] = u
	}
	for _, f := range c.findings {
		exp.Findings = append(exp.Findings, srFinding{Rank: f.Rank, Label: f.label(), Centre: f.CentreLPS,
			Long: optional(f.LongAxisMM), Short: optional(f.ShortAxisMM), Mean: optional(f.MeanDiameterMM),
			Volume: optional(f.VolumeMM3), Type: f.Type, LungRADS: f.LungRADS})
	}
	return exp
}

func optional(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// TestSR writes a SEG and an SR referencing it for each case and checks the
// SR with dciodvfy, dsrdump and pydicom (check_sr.py).
func TestSR(t *testing.T) {
	for _, c := range segCases(t) {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			seg, err := WriteSEG(filepath.Join(dir, "seg.dcm"), c.refs, c.labels, c.findings)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "sr.dcm")
			inst, err := WriteSR(path, c.refs, c.findings, SROptions{SEG: seg})
			if err != nil {
				t.Fatal(err)
			}
			if inst.SOPClassUID != Comprehensive3DSRStorage || inst.StudyInstanceUID != c.refs.StudyInstanceUID || inst.SeriesInstanceUID == seg.SeriesInstanceUID {
				t.Fatalf("instance %+v", inst)
			}
			for r, u := range seg.TrackingUIDs {
				if inst.TrackingUIDs[r] != u {
					t.Errorf("rank %d: SR tracking UID %s, SEG %s", r, inst.TrackingUIDs[r], u)
				}
			}
			t.Logf("dciodvfy:\n%s", dciodvfy(t, path))
			checkDsrdump(t, path, c.findings)

			py := python(t, "pydicom")
			b, _ := json.Marshal(expectFor(c, seg))
			expPath := filepath.Join(dir, "expect.json")
			if err := os.WriteFile(expPath, b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("pydicom: %s", runPy(t, py, "check_sr.py", path, expPath))
		})
	}
}

// checkDsrdump runs DCMTK's dsrdump on an SR: it must exit 0 with nothing
// on stderr (no warning or error) and print every finding's tracking
// identifier and measurement values with their units.
func checkDsrdump(t *testing.T, path string, fs []Finding) {
	t.Helper()
	bin := tool(t, "dsrdump", "dcmtk")
	cmd := exec.Command(bin, "-v", "+Pl", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		// DCMTK 3.6.7's value checker knows only single-byte character
		// sets; a report with a non-ASCII label is UTF-8, declared as
		// ISO_IR 192, which pydicom decodes (TestSRWithoutSEG).
		if line != "" && line != "W: The VR checker does not support this Specific Character Set: ISO_IR 192" {
			t.Errorf("dsrdump: %s", line)
		}
	}
	if err != nil || t.Failed() {
		t.Fatalf("dsrdump: %v\n%s\n%s", err, stderr.String(), out)
	}
	text := string(out)
	want := []string{"Comprehensive 3D SR Document", `"Imaging Measurement Report")`, `"Imaging Measurements")`}
	for _, f := range fs {
		want = append(want, `"Tracking Identifier")="`+f.label()+`"`)
		for _, m := range []struct {
			v    float64
			unit string
		}{{f.LongAxisMM, "(mm,UCUM"}, {f.ShortAxisMM, "(mm,UCUM"}, {f.MeanDiameterMM, "(mm,UCUM"}, {f.VolumeMM3, "(mm3,UCUM"}} {
			if known(m.v) {
				want = append(want, `="`+formatDS(m.v)+`" `+m.unit)
			}
		}
		if f.LungRADS != "" {
			want = append(want, `"Lung-RADS category: `+f.LungRADS+`"`)
		}
		if known(f.Lobulation) {
			want = append(want, fmt.Sprintf(`"Lobulation score: %.2f"`, f.Lobulation))
		}
		if known(f.PleuraDistanceMM) {
			at := ""
			if f.PleuraBeyond {
				at = "at least "
			}
			want = append(want, fmt.Sprintf(`"Distance to pleura: %s%.1f mm"`, at, f.PleuraDistanceMM))
		}
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("dsrdump output lacks %s", w)
		}
	}
	if t.Failed() {
		t.Logf("dsrdump:\n%s", text)
	}
}

// TestSRWithoutSEG: an SR on its own (no SEG) is valid too and makes its own
// tracking UIDs.
func TestSRWithoutSEG(t *testing.T) {
	shared := syntheticCase(t)
	c := *shared
	c.findings = append([]Finding(nil), shared.findings...)
	c.findings[0].Label = "Knötchen 1" // non-ASCII: the SR must declare UTF-8
	path := filepath.Join(t.TempDir(), "sr.dcm")
	inst, err := WriteSR(path, c.refs, c.findings, SROptions{SeriesNumber: 77, SeriesDescription: "nodules"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.TrackingUIDs) != len(c.findings) {
		t.Fatalf("tracking UIDs %v", inst.TrackingUIDs)
	}
	dciodvfy(t, path)
	checkDsrdump(t, path, c.findings)
	py := python(t, "pydicom")
	out, err := runCmd(py, "-c", `import pydicom, sys
ds = pydicom.dcmread(sys.argv[1])
print(ds.SpecificCharacterSet)
print(ds.ContentSequence[-1].ContentSequence[0].ContentSequence[0].TextValue)`, path)
	if err != nil || out != "ISO_IR 192\nKnötchen 1\n" {
		t.Errorf("pydicom reads character set and first tracking identifier as %q (%v)", out, err)
	}
}

// TestSRRejects: bad findings, a SEG from another study and a missing
// source are refused.
func TestSRRejects(t *testing.T) {
	c := lidcCase(t, false)
	dir := t.TempDir()
	path := filepath.Join(dir, "sr.dcm")
	bad := lidcFindings()
	bad[1].LungRADS = "4C"
	if _, err := WriteSR(path, c.refs, bad, SROptions{}); !errors.Is(err, ErrFindings) {
		t.Errorf("bad Lung-RADS: %v", err)
	}
	other := &Instance{StudyInstanceUID: "1.2.3"}
	if _, err := WriteSR(path, c.refs, c.findings, SROptions{SEG: other}); !errors.Is(err, ErrNoDICOMSource) {
		t.Errorf("SEG of another study: %v", err)
	}
	if _, err := WriteSR(path, nil, c.findings, SROptions{}); !errors.Is(err, ErrNoDICOMSource) {
		t.Errorf("nil source: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a file was written")
	}
	// dsrdump must be able to fail: it refuses a file that is not an SR.
	bin := tool(t, "dsrdump", "dcmtk")
	segPath := filepath.Join(dir, "seg.dcm")
	if _, err := WriteSEG(segPath, c.refs, c.labels, c.findings); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(bin, segPath); err == nil {
		t.Errorf("dsrdump accepted a SEG as an SR:\n%s", out)
	}
}

// TestCheckersCanFail: the Python oracles reject a SEG checked against
// labels shifted by 3 mm and an SR checked against a moved centre and a
// wrong long axis.
func TestCheckersCanFail(t *testing.T) {
	py := python(t, "pydicom", "numpy", "nibabel")
	c := lidcCase(t, false)
	dir := t.TempDir()
	seg, err := WriteSEG(filepath.Join(dir, "seg.dcm"), c.refs, c.labels, c.findings)
	if err != nil {
		t.Fatal(err)
	}
	shifted := *c.labels
	shifted.Origin[0] += 3
	labels := filepath.Join(dir, "shifted.nii.gz")
	if err := WriteLabelMap(labels, &shifted); err != nil {
		t.Fatal(err)
	}
	ctr := c.findings[0].CentreLPS
	args := append([]string{filepath.Join("testdata", "check_seg.py"), seg.Path, labels, ftoa(ctr[0]), ftoa(ctr[1]), ftoa(ctr[2])}, c.files...)
	if out, err := runCmd(py, args...); err == nil || !strings.Contains(out, "FAIL") {
		t.Errorf("check_seg.py accepted labels shifted by 3 mm: %v\n%s", err, out)
	}

	sr, err := WriteSR(filepath.Join(dir, "sr.dcm"), c.refs, c.findings, SROptions{SEG: seg})
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(e *srExpect){
		"moved centre":     func(e *srExpect) { e.Findings[0].Centre[2] += 0.5 },
		"wrong long axis":  func(e *srExpect) { v := 24.0; e.Findings[0].Long = &v },
		"missing evidence": func(e *srExpect) { e.SOPs = append(e.SOPs, "1.2.3.4") },
	} {
		exp := expectFor(c, seg)
		mutate(&exp)
		b, _ := json.Marshal(exp)
		expPath := filepath.Join(dir, "expect.json")
		if err := os.WriteFile(expPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runCmd(py, filepath.Join("testdata", "check_sr.py"), sr.Path, expPath); err == nil || !strings.Contains(out, "FAIL") {
			t.Errorf("check_sr.py accepted a %s: %v\n%s", name, err, out)
		}
	}
}
