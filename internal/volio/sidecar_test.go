package volio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
	"github.com/lungctl/lungctl/internal/warn"
)

func TestIsUID(t *testing.T) {
	for s, want := range map[string]bool{
		"1.2.840.113619.2.55.3": true, "1": true, strings.Repeat("1", MaxUIDLen): true,
		"": false, strings.Repeat("1", MaxUIDLen+1): false, "1.2.a": false, "1.2 ": false,
		"=cmd|' /C calc'!A0": false, "1.2\n3": false, "LIDC-IDRI-0001": false,
	} {
		if IsUID(s) != want {
			t.Errorf("IsUID(%q) = %v", s, !want)
		}
	}
}

// TestReadSidecarTooLarge: a sidecar over MaxSidecarBytes is refused from
// its size (a sparse 64 MiB file here), naming the file, without reading it.
func TestReadSidecarTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(p)
	testfs.Must(t, err)
	_, err = f.WriteString(`{"series_uid": "`)
	testfs.Must(t, err)
	if err := f.Truncate(64 << 20); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	testfs.Must(t, f.Close())
	if _, err := ReadSidecar(p); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "larger than 4194304 bytes") {
		t.Errorf("64 MiB sidecar: %v", err)
	}
	s, ok, warns := LoadSidecar(p, "big")
	if ok || s.SeriesUID != "" || len(warns) != 1 || warns[0].File != p || !strings.Contains(warns[0].Message, "larger than") {
		t.Errorf("64 MiB sidecar loaded: ok %v, warnings %v", ok, warns)
	}
}

// TestLoadSidecar: a missing sidecar is silent; a corrupt one is not used,
// with a warning naming it; UIDs that are not DICOM UIDs never come back
// (series_uid falls back to the scan id), each with a warning naming the
// file and the field; the scan id lungctl records for a non-DICOM volume
// is kept as it is.
func TestLoadSidecar(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "scan.json")
	if _, ok, warns := LoadSidecar(p, "scan"); ok || warns != nil {
		t.Errorf("missing sidecar: ok %v, warnings %v", ok, warns)
	}
	testfs.WriteFile(t, p, []byte(`{"id":`))
	if _, ok, warns := LoadSidecar(p, "scan"); ok || len(warns) != 1 || warns[0].Code != warn.Assumed ||
		!strings.Contains(warns[0].String(), p) || !strings.Contains(warns[0].Message, "unexpected end of JSON input") {
		t.Errorf("corrupt sidecar: ok %v, warnings %v", ok, warns)
	}
	// A key named twice: encoding/json would keep the second silently.
	testfs.WriteFile(t, p, []byte(`{"series_uid":"1.2.3","series_uid":"1.2.4"}`))
	if _, ok, warns := LoadSidecar(p, "scan"); ok || len(warns) != 1 || !strings.Contains(warns[0].String(), p) ||
		!strings.Contains(warns[0].Message, `duplicate key "series_uid"`) {
		t.Errorf("sidecar with a duplicate key: ok %v, warnings %v", ok, warns)
	}
	write := func(s Sidecar) {
		t.Helper()
		testfs.Must(t, WriteSidecar(p, s))
	}
	write(Sidecar{SeriesUID: "1.2.840.1", StudyUID: "1.2.840", PatientID: "P1"})
	if s, ok, warns := LoadSidecar(p, "scan"); !ok || warns != nil || s.SeriesUID != "1.2.840.1" || s.StudyUID != "1.2.840" {
		t.Errorf("good sidecar: %+v ok %v, warnings %v", s, ok, warns)
	}
	write(Sidecar{SeriesUID: "scan", OriginalSpacing: [3]float64{0.7, 0.7, 2.5}})
	if s, ok, warns := LoadSidecar(p, "scan"); !ok || warns != nil || s.SeriesUID != "scan" || s.OriginalSpacing[2] != 2.5 {
		t.Errorf("non-DICOM scan's sidecar: %+v ok %v, warnings %v", s, ok, warns)
	}
	// Text fields: a long one is cut, one with escapes escaped, a plain
	// one kept.
	write(Sidecar{SeriesUID: "1.2.3", PatientID: strings.Repeat("é", MaxTextRunes+10), Description: "CHEST\x1b[2J\nfake log line",
		Manufacturer: "SIEMENS", Modality: "CT\u202e"})
	s, ok, warns := LoadSidecar(p, "scan")
	if !ok || len(warns) != 3 || s.PatientID != strings.Repeat("é", MaxTextRunes) || s.Description != `CHEST\x1b[2J\nfake log line` ||
		s.Modality != `CT\u202e` || s.Manufacturer != "SIEMENS" || s.SeriesUID != "1.2.3" {
		t.Errorf("text fields: %+q ok %v, warnings %v", []string{s.PatientID, s.Description, s.Modality, s.Manufacturer}, ok, warns)
	}
	for i, field := range []string{"patient_id", "modality", "description"} {
		if i < len(warns) && (!strings.Contains(warns[i].Message, field) || !strings.Contains(warns[i].Message, p)) {
			t.Errorf("warning %d: %q, want the file and %s", i, warns[i].Message, field)
		}
	}
	bad := "=cmd|' /C calc'!A0" + strings.Repeat("x", 1<<20)
	write(Sidecar{SeriesUID: bad, StudyUID: "1.2,3", OriginalSpacing: [3]float64{0.7, 0.7, 2.5}})
	s, ok, warns = LoadSidecar(p, "scan")
	if !ok || s.SeriesUID != "scan" || s.StudyUID != "" || s.OriginalSpacing[2] != 2.5 {
		t.Errorf("bad UIDs kept: series %.40q study %q ok %v", s.SeriesUID, s.StudyUID, ok)
	}
	if len(warns) != 2 {
		t.Fatalf("bad UIDs: warnings %v", warns)
	}
	for i, field := range []string{"study_uid", "series_uid"} {
		if m := warns[i].Message; !strings.Contains(m, p) || !strings.Contains(m, field) || len(m) > 300 {
			t.Errorf("warning %d: %.300q (want the file, %s, and a short message)", i, m, field)
		}
	}
}

// TestWriteSidecarStaysReadable: a sidecar holding one warning for each of
// 30,000 skipped files (about 5 MB as they were written) is written with
// them folded and reads back; one that cannot be folded under
// MaxSidecarBytes is refused, naming the file, rather than written.
func TestWriteSidecarStaysReadable(t *testing.T) {
	dir := t.TempDir()
	s := Sidecar{Tool: "lungctl", SeriesUID: "1.2.3"}
	for i := 0; i < 30000; i++ {
		f := filepath.Join("/scans/patient-with-a-long-folder-name/notes", strings.Repeat("n", 40)+string(rune('a'+i%26))+strings.Repeat("x", i%7))
		s.Warnings = append(s.Warnings, warn.New(warn.SkippedNotDICOM, f, "skipped non-DICOM file "+f))
	}
	p := filepath.Join(dir, "a.json")
	if err := WriteSidecar(p, s); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSidecar(p)
	if err != nil || back.SeriesUID != "1.2.3" || len(back.Warnings) != 1 || back.Warnings[0].Count != 30000 {
		t.Fatalf("read back: %d warnings, %v", len(back.Warnings), err)
	}
	s.Warnings = nil
	s.Description = strings.Repeat("d", MaxSidecarBytes)
	p = filepath.Join(dir, "b.json")
	if err := WriteSidecar(p, s); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p) {
		t.Errorf("a sidecar over MaxSidecarBytes: %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused sidecar written: %v", err)
	}
}
