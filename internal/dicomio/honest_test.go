package dicomio

import (
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/hounsfield"

	"github.com/lungctl/lungctl/internal/testfs"
)

// TestBadRescaleRefused: a NaN, infinite or zero RescaleSlope and a NaN
// intercept are refused naming the file and the value (they used to become
// slope 1 and intercept 0 silently).
func TestBadRescaleRefused(t *testing.T) {
	for _, c := range []struct {
		tag      uint16
		val, why string
	}{
		{0x1053, "NaN", "RescaleSlope is NaN"},
		{0x1053, "inf", "RescaleSlope is +Inf"},
		{0x1053, "0", "RescaleSlope is 0"},
		{0x1053, "oops", "RescaleSlope is NaN"},
		{0x1052, "NaN", "RescaleIntercept is NaN"},
	} {
		dir := t.TempDir()
		files := writeSeries(t, dir, "s", "P", "1.8.1", 3, 4, 4, func(k int) []elem {
			if k == 1 {
				return []elem{text(0x0028, c.tag, "DS", c.val)}
			}
			return nil
		})
		_, err := Load(dir, Options{})
		wantErr(t, err, hounsfield.ErrBadRescale, files[1])
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s=%q: error does not say %q: %v", map[uint16]string{0x1053: "slope", 0x1052: "intercept"}[c.tag], c.val, c.why, err)
		}
	}
}

// TestMixedPatientsRefused: two patients' files under one SeriesInstanceUID
// are refused, not interleaved into one volume.
func TestMixedPatientsRefused(t *testing.T) {
	dir := t.TempDir()
	writeSeries(t, dir, "a", "PATIENT-A", "1.8.2", 4, 4, 4, nil)
	writeSeries(t, dir, "b", "PATIENT-B", "1.8.2", 4, 4, 4, func(k int) []elem {
		return []elem{text(0x0020, 0x0032, "DS", "-100\\-97\\0.6")}
	})
	_, err := Load(dir, Options{})
	wantErr(t, err, ErrMixedSeries, "PATIENT-B")
	if !strings.Contains(err.Error(), "PATIENT-A") {
		t.Errorf("error does not name both patients: %v", err)
	}
}

// TestBadGeometrySaysWhy: an orientation that is NaN or not orthogonal, a
// NaN position and a negative or zero pixel spacing are refused naming the
// attribute and its value (they used to read as "only localizers",
// "duplicate slice position" or "no PixelSpacing").
func TestBadGeometrySaysWhy(t *testing.T) {
	for _, c := range []struct {
		e    elem
		want string
	}{
		{text(0x0020, 0x0037, "DS", "NaN\\0\\0\\0\\1\\0"), `ImageOrientationPatient [NaN\0\0\0\1\0] is not six finite numbers`},
		{text(0x0020, 0x0037, "DS", "1\\0\\0\\0.5\\0.866\\0"), "is not two orthogonal unit vectors"},
		{text(0x0020, 0x0037, "DS", "2\\0\\0\\0\\1\\0"), "row length 2.0000"},
		{text(0x0020, 0x0032, "DS", "0\\NaN\\5"), "ImagePositionPatient"},
		{text(0x0028, 0x0030, "DS", "-0.7\\0.7"), `PixelSpacing [-0.7\0.7] mm is not positive`},
		{text(0x0028, 0x0030, "DS", "0\\0"), "is not positive"},
	} {
		dir := t.TempDir()
		files := writeSeries(t, dir, "s", "P", "1.8.3", 3, 4, 4, func(k int) []elem { return []elem{c.e} })
		_, err := Load(dir, Options{})
		if !errors.Is(err, ErrInconsistentGeometry) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Dir(files[0])) {
			t.Errorf("%s: %v, want ErrInconsistentGeometry saying %q", c.e.val, err, c.want)
		} else {
			t.Logf("refused as wanted: %v", err)
		}
	}
}

// TestUnsigned32KeepsHighValues: unsigned 32-bit samples of 2³¹ and more
// keep their value (they used to be clipped to 2³¹−1).
func TestUnsigned32KeepsHighValues(t *testing.T) {
	dir := t.TempDir()
	es := ctSlice("P", "1.8.4", 1, 3, 0,
		us(0x0028, 0x0100, 32), us(0x0028, 0x0101, 32), us(0x0028, 0x0102, 31), us(0x0028, 0x0103, 0),
		text(0x0028, 0x1053, "DS", "1e-6"), text(0x0028, 0x1052, "DS", "-3000"))
	vals := []uint32{1 << 31, 3_000_000_000, 4_000_000_000}
	var pix []byte
	for _, v := range vals {
		pix = binary.LittleEndian.AppendUint32(pix, v)
	}
	p := filepath.Join(dir, "u32.dcm")
	testfs.WriteFile(t, p, dcmBytes(tsExplicitLE, es, pix, nil))
	sc, err := LoadFiles([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		want := int16(math.Round(float64(v)*1e-6 - 3000))
		if sc.HU.Data[i] != want {
			t.Errorf("sample %d (%d): %d HU, want %d", i, v, sc.HU.Data[i], want)
		}
	}
}

// TestNonCTSaysWhatToDo: a series that is not CT is refused with what the
// user can do, not with an option of the Go API.
func TestNonCTSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	writeSeries(t, dir, "mr", "P", "1.8.5", 2, 4, 4, func(int) []elem { return []elem{text(0x0008, 0x0060, "CS", "MR")} })
	_, err := Load(dir, Options{})
	if !errors.Is(err, ErrNoCTSeries) || strings.Contains(err.Error(), "AllowNonCT") || !strings.Contains(err.Error(), "--series") || !strings.Contains(err.Error(), "is MR, not CT") {
		t.Fatalf("non-CT: %v", err)
	}
	t.Logf("refused as wanted: %v", err)
}

// TestJPEG2000SaysHowToDecompress: an undecodable compressed syntax names
// the tools that decompress it.
func TestJPEG2000SaysHowToDecompress(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "j2k.dcm")
	testfs.WriteFile(t, p, dcmBytes("1.2.840.10008.1.2.4.90", ctSlice("P", "1.8.6", 4, 4, 0), nil, [][]byte{make([]byte, 40)}))
	_, err := LoadFiles([]string{p}, Options{})
	wantErr(t, err, ErrUnsupportedTransferSyntax, p)
	if !strings.Contains(err.Error(), "gdcmconv --raw") || !strings.Contains(err.Error(), "dcmdjp2k") {
		t.Errorf("no decompression hint: %v", err)
	}
}
