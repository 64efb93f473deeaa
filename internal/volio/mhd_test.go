package volio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"

	"github.com/lungctl/lungctl/internal/testfs"
)

func TestMHDRoundTrip(t *testing.T) {
	dir := t.TempDir()
	g := obliqueGrid([3]int{7, 6, 5})
	v := patternHU(g)
	for _, compress := range []bool{false, true} {
		path := filepath.Join(dir, "ct.mhd")
		if compress {
			path = filepath.Join(dir, "ctz.mhd")
		}
		if err := WriteMHD(path, v, MHDOptions{Compress: compress}); err != nil {
			t.Fatal(err)
		}
		dataFile := strings.TrimSuffix(path, ".mhd") + map[bool]string{false: ".raw", true: ".zraw"}[compress]
		if _, err := os.Stat(dataFile); err != nil {
			t.Fatalf("data file: %v", err)
		}
		got, err := ReadHU(path)
		if err != nil {
			t.Fatal(err)
		}
		gridClose(t, got.Grid, g, 1e-12)
		if hg, err := ReadGrid(path); err != nil {
			t.Fatal(err)
		} else {
			gridClose(t, hg, g, 1e-12)
		}
		if !slicesEqual(got.Data, v.Data) {
			t.Errorf("compress=%v: voxels differ", compress)
		}
	}
	m := volume.New[uint8](g)
	for i := range m.Data {
		m.Data[i] = uint8(i % 3)
	}
	if err := WriteMHD(filepath.Join(dir, "m.mhd"), m, MHDOptions{}); err != nil {
		t.Fatal(err)
	}
	gm, err := ReadMask(filepath.Join(dir, "m.mhd"))
	if err != nil || !slicesEqual(gm.Data, m.Data) {
		t.Errorf("mask round trip: %v", err)
	}
}

// TestMHDLUNA16Header reads a header written by hand in the LUNA16 layout
// (identity TransformMatrix, Offset = LPS world of voxel 0) with a zlib
// .zraw made here by the standard library, and checks world coordinates.
func TestMHDLUNA16Header(t *testing.T) {
	dir := t.TempDir()
	vals := make([]int16, 4*3*2)
	var raw bytes.Buffer
	for i := range vals {
		vals[i] = int16(-1000 + 100*i)
		raw.Write(binary.LittleEndian.AppendUint16(nil, uint16(vals[i])))
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	testfs.Must(t, zw.Close())
	testfs.WriteFile(t, filepath.Join(dir, "scan.zraw"), z.Bytes())
	hdr := "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n" +
		"CompressedData = True\nCompressedDataSize = 40\nTransformMatrix = 1 0 0 0 1 0 0 0 1\n" +
		"Offset = -198.100006 -195 -335.209991\nCenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\n" +
		"ElementSpacing = 0.7 0.7 2.5\nDimSize = 4 3 2\nElementType = MET_SHORT\nElementDataFile = scan.zraw\n"
	path := filepath.Join(dir, "scan.mhd")
	testfs.WriteFile(t, path, []byte(hdr))
	v, err := ReadHU(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(v.Data, vals) {
		t.Errorf("voxels %v, want %v", v.Data, vals)
	}
	w := v.IndexToWorld(volume.Vec3{1, 2, 1})
	want := volume.Vec3{-198.100006 + 0.7, -195 + 1.4, -335.209991 + 2.5}
	for a := 0; a < 3; a++ {
		if math.Abs(w[a]-want[a]) > 1e-9 {
			t.Errorf("world %v, want %v", w, want)
		}
	}
	if v.At(1, 2, 1) != vals[1+4*(2+3*1)] {
		t.Error("x is not the fastest axis")
	}

	// TransformMatrix lists axis by axis (ITK): axis 0 = +y, axis 1 = −x.
	hdr2 := strings.Replace(hdr, "1 0 0 0 1 0 0 0 1", "0 1 0 -1 0 0 0 0 1", 1)
	testfs.WriteFile(t, path, []byte(hdr2))
	v, err = ReadHU(path)
	if err != nil {
		t.Fatal(err)
	}
	w = v.IndexToWorld(volume.Vec3{1, 0, 0})
	if math.Abs(w[0]-(-198.100006)) > 1e-9 || math.Abs(w[1]-(-195+0.7)) > 1e-9 {
		t.Errorf("axis 0 moves to %v, want +y", w)
	}

	// Big endian unsigned, raw, via MSB flag and ElementSpacing.
	var be bytes.Buffer
	for i := range vals {
		be.Write(binary.BigEndian.AppendUint16(nil, uint16(i*1000)))
	}
	testfs.WriteFile(t, filepath.Join(dir, "be.raw"), be.Bytes())
	hdr3 := "ObjectType = Image\nNDims = 3\nElementByteOrderMSB = True\nDimSize = 4 3 2\n" +
		"ElementSpacing = 1 1 1\nElementType = MET_USHORT\nElementDataFile = be.raw\n"
	testfs.WriteFile(t, filepath.Join(dir, "be.mhd"), []byte(hdr3))
	f, err := ReadFloat32(filepath.Join(dir, "be.mhd"))
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range f.Data {
		if x != float32(i*1000) {
			t.Fatalf("big-endian voxel %d = %v", i, x)
		}
	}
	// LOCAL data in an .mha.
	mha := []byte(strings.Replace(hdr3, "be.raw", "LOCAL", 1))
	mha = append(mha, be.Bytes()...)
	testfs.WriteFile(t, filepath.Join(dir, "local.mha"), mha)
	f, err = ReadFloat32(filepath.Join(dir, "local.mha"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Data[23] != 23000 {
		t.Errorf("LOCAL voxel 23 = %v", f.Data[23])
	}
}

func TestMHDBadFiles(t *testing.T) {
	dir := t.TempDir()
	testfs.WriteFile(t, filepath.Join(dir, "d.raw"), make([]byte, 48))
	base := "ObjectType = Image\nNDims = 3\nDimSize = 4 3 2\nElementSpacing = 1 1 1\nElementType = MET_SHORT\nElementDataFile = d.raw\n"
	cases := map[string]struct {
		hdr  string
		want error
	}{
		"ndims2":    {strings.Replace(base, "NDims = 3", "NDims = 2", 1), ErrUnsupported},
		"eltype":    {strings.Replace(base, "MET_SHORT", "MET_OTHER", 1), ErrUnsupported},
		"dimsize":   {strings.Replace(base, "4 3 2", "4 3", 1), ErrFormat},
		"negdim":    {strings.Replace(base, "4 3 2", "4 -3 2", 1), ErrFormat},
		"spacing0":  {strings.Replace(base, "ElementSpacing = 1 1 1", "ElementSpacing = 1 0 1", 1), ErrFormat},
		"bigdata":   {strings.Replace(base, "4 3 2", "400 300 200", 1), ErrTruncated},
		"nodata":    {strings.Replace(base, "d.raw", "absent.raw", 1), os.ErrNotExist},
		"list":      {strings.Replace(base, "d.raw", "LIST", 1), ErrUnsupported},
		"noend":     {strings.Replace(base, "ElementDataFile = d.raw\n", "", 1), ErrFormat},
		"garbage":   {"\x00\x01\x02binary junk", ErrFormat},
		"singular":  {strings.Replace(base, "NDims = 3\n", "NDims = 3\nTransformMatrix = 1 0 0 1 0 0 0 0 1\n", 1), ErrFormat},
		"notype":    {strings.Replace(base, "ElementType = MET_SHORT\n", "", 1), ErrFormat},
		"zrawjunk":  {strings.Replace(base, "NDims = 3\n", "NDims = 3\nCompressedData = True\n", 1), ErrFormat},
		"ascii":     {strings.Replace(base, "NDims = 3\n", "NDims = 3\nBinaryData = False\n", 1), ErrUnsupported},
		"channels3": {strings.Replace(base, "NDims = 3\n", "NDims = 3\nElementNumberOfChannels = 3\n", 1), ErrUnsupported},
	}
	for name, tc := range cases {
		path := filepath.Join(dir, name+".mhd")
		testfs.WriteFile(t, path, []byte(tc.hdr))
		_, err := ReadHU(path)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %q is not %v", name, err, tc.want)
		}
	}
	// Truncated raw file: error names the data file too.
	testfs.WriteFile(t, filepath.Join(dir, "short.raw"), make([]byte, 47))
	path := filepath.Join(dir, "short.mhd")
	testfs.WriteFile(t, path, []byte(strings.Replace(base, "d.raw", "short.raw", 1)))
	if _, err := ReadHU(path); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "short.raw") {
		t.Errorf("short raw: %v", err)
	}
}

func TestSidecarRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	s := Sidecar{Tool: "lungctl", Input: "/data/scan 1", SeriesUID: "1.2.3", PatientID: "P1", StudyUID: "1.2",
		Modality: "CT", Manufacturer: "GE", Warnings: []warn.Warning{warn.New(warn.UnevenSpacing, "", "uneven slice gaps")}}
	s.SetOriginal(obliqueGrid([3]int{512, 512, 133}))
	s.SetOutput(volume.Grid{Dims: [3]int{360, 360, 331}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity})
	if err := WriteSidecar(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSidecar(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ToolVersion != ToolVersion || got.Time.IsZero() {
		t.Errorf("defaults not filled: %+v", got)
	}
	got.ToolVersion, got.Time = "", s.Time
	if got.OriginalDirection != s.OriginalDirection || got.OriginalSpacing != s.OriginalSpacing ||
		got.OutputDims != s.OutputDims || got.Input != s.Input || got.Warnings[0] != s.Warnings[0] || got.SeriesUID != "1.2.3" {
		t.Errorf("round trip: got %+v, want %+v", got, s)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"time": "20`)) || !bytes.Contains(raw, []byte(`"series_uid": "1.2.3"`)) || !bytes.Contains(raw, []byte(`"code": "uneven_spacing"`)) {
		t.Errorf("JSON layout: %s", raw)
	}
	// A sidecar written before warnings had codes still reads.
	old := bytes.Replace(raw, []byte(`{
      "code": "uneven_spacing",
      "message": "uneven slice gaps"
    }`), []byte(`"uneven slice gaps"`), 1)
	if bytes.Equal(old, raw) {
		t.Fatalf("could not rewrite the warning as a plain string: %s", raw)
	}
	testfs.WriteFile(t, path, old)
	if back, err := ReadSidecar(path); err != nil || len(back.Warnings) != 1 || back.Warnings[0].Message != "uneven slice gaps" {
		t.Errorf("old-format sidecar: %+v %v", back.Warnings, err)
	}
	testfs.WriteFile(t, path, []byte("{not json"))
	if _, err := ReadSidecar(path); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), path) {
		t.Errorf("bad JSON: %v", err)
	}
}

// TestMHDZrawChecksum: a .zraw whose stored (level 0) block has one byte
// flipped inflates without complaint, and only the stream's Adler-32 at its
// end tells: it is refused naming the data file, as are a stream cut before
// its checksum and one going on for megabytes past the voxels; the intact
// stream, and one with a few bytes after the voxels, read as before.
func TestMHDZrawChecksum(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 2*16*16*4)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	zraw := func(data []byte) []byte {
		var z bytes.Buffer
		zw, err := zlib.NewWriterLevel(&z, zlib.NoCompression)
		testfs.Must(t, err)
		_, err = zw.Write(data)
		testfs.Must(t, err)
		testfs.Must(t, zw.Close())
		return z.Bytes()
	}
	good := zraw(raw)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0xff
	for name, c := range map[string]struct {
		data []byte
		ok   bool
	}{
		"intact":     {good, true},
		"few_extra":  {zraw(append(append([]byte(nil), raw...), 1, 2, 3)), true},
		"flipped":    {flipped, false},
		"no_adler":   {good[:len(good)-4], false},
		"long_extra": {zraw(append(append([]byte(nil), raw...), make([]byte, 2<<20)...)), false},
	} {
		data := filepath.Join(dir, name+".zraw")
		testfs.WriteFile(t, data, c.data)
		path := filepath.Join(dir, name+".mhd")
		testfs.WriteFile(t, path, []byte(strings.Replace(mhdText("16 16 4", "MET_SHORT", name+".zraw"), "NDims = 3\n", "NDims = 3\nCompressedData = True\n", 1)))
		v, err := ReadHU(path)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.ok && !bytes.Equal(byteView(v.Data), raw):
			t.Errorf("%s: voxels differ", name)
		case !c.ok && (!errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), data)):
			t.Errorf("%s: %v, want ErrFormat naming %s", name, err, data)
		}
	}
}

// TestReadErrorNamesPathOnce: an error opening the file itself (an
// *fs.PathError of it) names the path once, not again in volio's prefix.
func TestReadErrorNamesPathOnce(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "absent.nii.gz"), filepath.Join(dir, "absent.mhd")} {
		_, err := ReadHU(p)
		if !errors.Is(err, os.ErrNotExist) || strings.Count(err.Error(), p) != 1 {
			t.Errorf("ReadHU(%s): %v; want ErrNotExist naming the path once", p, err)
		}
		_, err = ReadGrid(p)
		if !errors.Is(err, os.ErrNotExist) || strings.Count(err.Error(), p) != 1 {
			t.Errorf("ReadGrid(%s): %v; want ErrNotExist naming the path once", p, err)
		}
	}
	// other errors still name it
	bad := filepath.Join(dir, "bad.mhd")
	if err := os.WriteFile(bad, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHU(bad); err == nil || strings.Count(err.Error(), bad) != 1 {
		t.Errorf("ReadHU(%s): %v; want an error naming the path once", bad, err)
	}
}
