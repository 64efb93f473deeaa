package npy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/lungctl/lungctl/internal/testfs"
)

func TestParseRejects(t *testing.T) {
	if _, _, err := Parse([]byte("not numpy at all")); err == nil {
		t.Fatal("accepted garbage")
	}
	hdr := "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), 0)
	b = append(b, hdr...)
	b = append(b, make([]byte, 16)...)
	if _, _, err := Parse(b); err == nil {
		t.Fatal("accepted float64 data")
	}
}

// TestWriteRead writes 1-, 2- and 3-D arrays and reads them back bit for
// bit, checks the 64-byte header alignment, refuses a length that does not
// match the shape, and has NumPy read the 2-D file when python3 has numpy.
func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	data := []float32{1, -2.5, 3e-7, 4, 5, 6}
	for _, shape := range [][]int{{6}, {2, 3}, {1, 2, 3}} {
		var buf bytes.Buffer
		if err := Write(&buf, data, shape); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if (10+int(b[8])+int(b[9])<<8)%64 != 0 {
			t.Errorf("shape %v: header not 64-byte aligned", shape)
		}
		v, s, err := Parse(b)
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		if len(s) != len(shape) {
			t.Fatalf("shape %v read back as %v", shape, s)
		}
		for i := range s {
			if s[i] != shape[i] {
				t.Fatalf("shape %v read back as %v", shape, s)
			}
		}
		for i := range data {
			if v[i] != data[i] {
				t.Fatalf("shape %v: value %d = %g, want %g", shape, i, v[i], data[i])
			}
		}
		if _, _, err := Parse(append(b, 0, 0, 0, 0)); !errors.Is(err, ErrFormat) {
			t.Errorf("shape %v with 4 trailing bytes: %v", shape, err)
		}
		if shape[0] == 2 {
			p := filepath.Join(dir, "a.npy")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := pyref.Run(t, []string{"numpy"}, "-c",
				"import numpy,sys; a=numpy.load(sys.argv[1]); print(a.dtype, a.shape, a[1,2])", p)
			if got := strings.TrimSpace(string(out)); got != "float32 (2, 3) 6.0" {
				t.Errorf("numpy read %q", got)
			}
		}
	}
	if err := Write(&bytes.Buffer{}, data, []int{4}); err == nil {
		t.Error("6 values for shape (4) accepted")
	}
	if _, _, err := Read(filepath.Join(dir, "missing.npy")); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("missing file: %v", err)
	}
}

// TestParseBoundsShape feeds shapes whose product overflows int or exceeds
// the data: each must be refused with ErrFormat, never panic or allocate.
func TestParseBoundsShape(t *testing.T) {
	mk := func(shape string, data int) []byte {
		hdr := "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }"
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
		b = append(b, hdr...)
		return append(b, make([]byte, data)...)
	}
	for _, tc := range []struct {
		shape string
		data  int
	}{
		{"4611686018427387904, 4", 0}, // 2^62·4 wraps to 0 values, matching 0 bytes
		{"4611686018427387904,", 0},   // 4·2^62 bytes wraps to 0
		{"3074457345618258603, 3", 4}, // product wraps to 1
		{"9223372036854775807, 2", 8}, // wraps to -2
		{"99999999999999999999,", 4},  // not an int
		{"1000000, 1000000", 16},      // honest but far larger than the data
		{strings.Repeat("1,", 65), 4}, // too many axes
	} {
		v, s, err := Parse(mk(tc.shape, tc.data))
		if !errors.Is(err, ErrFormat) {
			t.Errorf("shape (%s) with %d bytes: got %d values %v, err %v; want ErrFormat", tc.shape, tc.data, len(v), s, err)
		}
	}
	// A zero axis is a valid empty array whatever the other axes say.
	if v, s, err := Parse(mk("0, 4611686018427387904", 0)); err != nil || len(v) != 0 || len(s) != 2 {
		t.Errorf("empty array: %v %v %v", v, s, err)
	}
}

// TestReadRefusesHugeHeader: a format 2.0 file declaring a header over
// MaxHeaderBytes (here 300 MB, in a sparse file of that size) is refused
// from its preamble, naming the file, without reading or allocating the rest.
func TestReadRefusesHugeHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.npy")
	pre := []byte("\x93NUMPY\x02\x00\x00\x00\xe1\x11") // header length 0x11e10000 ≈ 300 MB
	if err := os.WriteFile(p, pre, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 12+0x11e10000+64); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	_, _, err := Read(p)
	runtime.ReadMemStats(&b)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "header length 299958272 declared") {
		t.Errorf("300 MB header: %v", err)
	}
	if alloc := b.TotalAlloc - a.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d MB to refuse it", alloc>>20)
	}
	// Parse refuses the length too (before copying the header text).
	if _, _, err := Parse(append(pre, make([]byte, 64)...)); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "MaxHeaderBytes") {
		t.Errorf("Parse of a 300 MB header length: %v", err)
	}
}

// TestParseMessages: a zero-length axis makes an empty array whatever its
// place, and a header without a key says which key is missing.
func TestParseMessages(t *testing.T) {
	mk := func(hdr string, data int) []byte {
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
		b = append(b, hdr...)
		return append(b, make([]byte, data)...)
	}
	for _, shape := range []string{"2, 0", "0, 2", "3, 0, 4"} {
		v, s, err := Parse(mk("{'descr': '<f4', 'fortran_order': False, 'shape': ("+shape+"), }", 0))
		if err != nil || len(v) != 0 || len(s) != strings.Count(shape, ",")+1 {
			t.Errorf("shape (%s), no data: %v %v %v", shape, v, s, err)
		}
		if _, _, err := Parse(mk("{'descr': '<f4', 'fortran_order': False, 'shape': ("+shape+"), }", 8)); !errors.Is(err, ErrFormat) ||
			!strings.Contains(err.Error(), "8 data bytes for 0 values") {
			t.Errorf("shape (%s) with 8 bytes: %v", shape, err)
		}
	}
	for hdr, want := range map[string]string{
		"{'descr': '<f4', 'shape': (1,), }":                         "no 'fortran_order' key",
		"{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }":  "Fortran order",
		"{'fortran_order': False, 'shape': (1,), }":                 "no 'descr' key",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }": `dtype "<f8"`,
		"{'descr': '<f4', 'fortran_order': False, }":                "no 'shape' key",
	} {
		if _, _, err := Parse(mk(hdr, 4)); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", hdr, err, want)
		}
	}
}

// TestReadChecksBudget: a .npy file whose bytes and values would not fit the
// memory budget is refused before either is allocated, naming the file.
func TestReadChecksBudget(t *testing.T) {
	p := filepath.Join(t.TempDir(), "points.npy")
	var buf bytes.Buffer
	if err := Write(&buf, make([]float32, 4096), []int{1024, 4}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	testfs.SetBudget(t, 16<<10)
	_, _, err := Read(p)
	if !testfs.TooBig(err, p) {
		t.Fatalf("16 KiB file under a 16 KiB budget: %v, want a refusal naming the file", err)
	}
	testfs.SetBudget(t, 1<<20)
	if v, shape, err := Read(p); err != nil || len(v) != 4096 || shape[0] != 1024 {
		t.Fatalf("under 1 MiB: %v, %d values, shape %v", err, len(v), shape)
	}
}
