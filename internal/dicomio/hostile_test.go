package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"

	"github.com/lungctl/lungctl/internal/testfs"
)

// wantErr fails unless err wraps want and names file.
func wantErr(t *testing.T, err, want error, file string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if file != "" && !strings.Contains(err.Error(), file) {
		t.Fatalf("error does not name %s: %v", file, err)
	}
	t.Logf("refused as wanted: %v", err)
}

// rleFrame is a valid RLE frame header for 16-bit samples whose two
// segments hold only n bytes each (a claim the data cannot back).
func rleStub(n int) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b, 2)
	binary.LittleEndian.PutUint32(b[4:], 64)
	binary.LittleEndian.PutUint32(b[8:], uint32(64+n))
	return append(b, make([]byte, 2*n)...)
}

// TestHugeFrameClaim: a 50 KB RLE file claiming 8192² pixels × 10,000
// frames (1.3 TB as int16) is refused before anything is allocated from
// the claim; so is the same claim in JPEG-LS, which has no minimum size per
// pixel, by the memory budget.
func TestHugeFrameClaim(t *testing.T) {
	dir := t.TempDir()
	es := ctSlice("P", "1.9.1", 8192, 8192, 0, text(0x0028, 0x0008, "IS", "10000"))
	p := filepath.Join(dir, "bomb.dcm")
	testfs.WriteFile(t, p, dcmBytes(tsRLE, es, nil, [][]byte{rleStub(25000)}))
	var err error
	alloc := allocDuring(func() { _, err = Load(dir, Options{}) })
	wantErr(t, err, ErrCorrupt, p)
	if alloc > 64<<20 {
		t.Errorf("allocated %d MB refusing a 50 KB file", alloc>>20)
	}
	testfs.WriteFile(t, p, dcmBytes(tsJPEGLS, es, nil, [][]byte{make([]byte, 50000)}))
	alloc = allocDuring(func() { _, err = Load(dir, Options{}) })
	wantErr(t, err, membudget.ErrTooBig, p)
	if alloc > 64<<20 {
		t.Errorf("allocated %d MB refusing a 50 KB file", alloc>>20)
	}
}

// TestManySmallClaims: 200 files of 4 KB each claiming 8192² pixels: the
// budget is checked on the series' sum, not file by file.
func TestManySmallClaims(t *testing.T) {
	testfs.SetBudget(t, 4<<30)
	dir := t.TempDir()
	for k := 0; k < 200; k++ {
		es := ctSlice("P", "1.9.2", 8192, 8192, float64(k))
		testfs.WriteFile(t, filepath.Join(dir, fmt.Sprintf("%03d.dcm", k)), dcmBytes(tsJPEGLS, es, nil, [][]byte{make([]byte, 3000)}))
	}
	var err error
	alloc := allocDuring(func() { _, err = Load(dir, Options{}) })
	wantErr(t, err, membudget.ErrTooBig, "200 files")
	if alloc > 64<<20 {
		t.Errorf("allocated %d MB refusing 800 KB of files", alloc>>20)
	}
	// RLE cannot even claim it: each file is refused as too short.
	dir2 := t.TempDir()
	for k := 0; k < 5; k++ {
		es := ctSlice("P", "1.9.3", 8192, 8192, float64(k))
		testfs.WriteFile(t, filepath.Join(dir2, fmt.Sprintf("%03d.dcm", k)), dcmBytes(tsRLE, es, nil, [][]byte{rleStub(2000)}))
	}
	_, err = Load(dir2, Options{})
	wantErr(t, err, ErrCorrupt, "000.dcm")
}

// deflatedFile is a Deflated Explicit VR Little Endian file whose data set
// holds a private OB element of zeros bytes (inflated) before the pixel
// data: a few hundred kilobytes on disk.
func deflatedFile(t *testing.T, zeros int, es []elem, pixels []byte) []byte {
	t.Helper()
	var ds []byte
	for _, x := range es {
		ds = appendElem(ds, x, false)
	}
	ds = appendElem(ds, elem{0x0009, 0x1010, "OB", make([]byte, zeros)}, false)
	ds = appendElem(ds, elem{0x7FE0, 0x0010, "OW", pixels}, false)
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	w.Write(ds)
	testfs.Must(t, w.Close())
	head := dcmBytes(tsDeflateLE, nil, nil, nil)
	return append(head, z.Bytes()...)
}

// TestDeflateBombs: deflated files are never kept inflated. A header that
// inflates past MaxHeaderBytes is refused; 12 such files (3 GB inflated)
// parse in bounded memory, for Load and for ScanDir (headers only), and a
// legitimate deflated series still loads.
func TestDeflateBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates gigabytes: skipped in -short mode")
	}
	dir := t.TempDir()
	bomb := deflatedFile(t, 256<<20, ctSlice("P", "1.9.4", 2, 2, 0), make([]byte, 8))
	for k := 0; k < 12; k++ {
		testfs.WriteFile(t, filepath.Join(dir, fmt.Sprintf("bomb%02d.dcm", k)), bomb)
	}
	t.Logf("each bomb: %d KB on disk, 256 MB inflated", len(bomb)>>10)
	var err error
	peak := peakDuring(func() { _, err = Load(dir, Options{}) })
	wantErr(t, err, ErrCorrupt, "bomb")
	if !strings.Contains(err.Error(), "inflates past") {
		t.Errorf("error does not say why: %v", err)
	}
	// At most one header buffer per parse worker, each at most
	// MaxHeaderBytes (grown by appending: twice that while copying).
	limit := uint64(par.Limit()*3*MaxHeaderBytes + 32<<20)
	t.Logf("Load: peak heap %d MB for 12 bombs of 256 MB inflated each (bound %d MB)", peak>>20, limit>>20)
	if peak > limit {
		t.Errorf("peak heap %d MB", peak>>20)
	}
	peak = peakDuring(func() { _, err = ScanDir(dir) })
	t.Logf("ScanDir (headers only): peak heap %d MB", peak>>20)
	if err != nil || peak > limit {
		t.Errorf("ScanDir: %v, peak heap %d MB", err, peak>>20)
	}
	// Pixel data are inflated only when decoded, exactly as many bytes as
	// the frames need, whatever follows in the stream.
	ok := t.TempDir()
	for k := 0; k < 3; k++ {
		pix := make([]byte, 2*4*4)
		for i := range pix {
			pix[i] = byte(k + i)
		}
		testfs.WriteFile(t, filepath.Join(ok, fmt.Sprintf("%d.dcm", k)), deflatedFile(t, 1000, ctSlice("P", "1.9.5", 4, 4, float64(k)), pix))
	}
	sc, err := Load(ok, Options{})
	if err != nil || sc.HU.Dims != [3]int{4, 4, 3} {
		t.Fatalf("deflated series: %v", err)
	}
}

// nestedSequences appends levels nested defined-length sequences
// (ReferencedImageSequence, one item each, 20 bytes a level, Explicit VR
// LE) to ds.
func nestedSequences(ds []byte, levels int) []byte {
	le := binary.LittleEndian
	for l := 0; l < levels; l++ {
		r := levels - l
		ds = le.AppendUint16(le.AppendUint16(ds, 0x0008), 0x1140)
		ds = append(ds, "SQ"...)
		ds = le.AppendUint16(ds, 0)
		ds = le.AppendUint32(ds, uint32(20*r-12))
		ds = le.AppendUint32(le.AppendUint16(le.AppendUint16(ds, 0xFFFE), 0xE000), uint32(20*r-20))
	}
	return ds
}

// TestDeepSequences: 12 MB of nested defined-length sequences would
// overflow the stack inside the dicom library (a fatal error, not a
// panic); the depth is checked first and the file refused.
func TestDeepSequences(t *testing.T) {
	const levels = 600_000 // 20 bytes a level: 12 MB
	ds := nestedSequences(make([]byte, 0, 20*levels+64), levels)
	head := dcmBytes(tsExplicitLE, ctSlice("P", "1.9.6", 2, 2, 0), nil, nil)
	file := append(head, ds...)
	file = appendElem(file, elem{0x7FE0, 0x0010, "OW", make([]byte, 8)}, false)
	dir := t.TempDir()
	p := filepath.Join(dir, "deep.dcm")
	testfs.WriteFile(t, p, file)
	_, err := LoadFiles([]string{p}, Options{})
	wantErr(t, err, ErrCorrupt, p)
	if !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("error does not say why: %v", err)
	}
	// Moderate nesting (an Enhanced CT's functional groups) is fine.
	if err := checkNesting(ds[len(ds)-20*8:], false, binary.LittleEndian); err != nil {
		t.Errorf("8 levels refused: %v", err)
	}
}

// TestHugeHeader: a sparse 8 GB file whose header never ends is read
// only up to MaxHeaderBytes.
func TestHugeHeader(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sparse.dcm")
	head := dcmBytes(tsExplicitLE, ctSlice("P", "1.9.7", 2, 2, 0), nil, nil)
	head = appendElem(head, elem{0x0009, 0x1010, "OB", nil}, false)
	binary.LittleEndian.PutUint32(head[len(head)-4:], 0xFFFFFFF0) // a 4 GB value
	f, err := os.Create(p)
	if err == nil {
		_, err = f.Write(head)
	}
	testfs.Must(t, err)
	if err := f.Truncate(8 << 30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	testfs.Must(t, f.Close())
	alloc := allocDuring(func() { _, err = LoadFiles([]string{p}, Options{}) })
	wantErr(t, err, ErrCorrupt, p)
	if alloc > 2*MaxHeaderBytes {
		t.Errorf("allocated %d MB for the header of a sparse file", alloc>>20)
	}
}

// TestStreamSizeClaim: a 4×4 slice whose JPEG-LS stream claims a
// 65535×4000 frame (a few bytes of run mode can code it) is refused from
// the stream's frame header, before the decoder allocates 500 MB.
func TestStreamSizeClaim(t *testing.T) {
	sof := []byte{0xFF, 0xD8, 0xFF, 0xF7, 0, 11, 16, 0x0F, 0xA0, 0xFF, 0xFF, 1, 1, 0x11, 0,
		0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xD9}
	p := filepath.Join(t.TempDir(), "claim.dcm")
	testfs.WriteFile(t, p, dcmBytes(tsJPEGLS, ctSlice("P", "1.9.8", 4, 4, 0), nil, [][]byte{sof}))
	var err error
	alloc := allocDuring(func() { _, err = LoadFiles([]string{p}, Options{}) })
	wantErr(t, err, ErrCorrupt, p)
	if !strings.Contains(err.Error(), "header says 4×4") {
		t.Errorf("error does not say why: %v", err)
	}
	if alloc > 16<<20 {
		t.Errorf("allocated %d MB", alloc>>20)
	}
}

// TestInnerLengthClaim: inside a small defined-length sequence, an element
// claiming 4 GB (the dicom library allocates a value's length before
// reading it) is refused before the library sees it.
func TestInnerLengthClaim(t *testing.T) {
	le := binary.LittleEndian
	var inner []byte
	inner = le.AppendUint16(le.AppendUint16(inner, 0x0009), 0x1010)
	inner = append(inner, "OB"...)
	inner = le.AppendUint32(le.AppendUint16(inner, 0), 0xF0000000)
	inner = append(inner, make([]byte, 16)...)
	item := le.AppendUint32(le.AppendUint16(le.AppendUint16(nil, 0xFFFE), 0xE000), uint32(len(inner)))
	item = append(item, inner...)
	file := dcmBytes(tsExplicitLE, ctSlice("P", "1.9.9", 2, 2, 0), nil, nil)
	file = appendElem(file, elem{0x0008, 0x1140, "SQ", item}, false)
	file = appendElem(file, elem{0x7FE0, 0x0010, "OW", make([]byte, 8)}, false)
	p := filepath.Join(t.TempDir(), "inner.dcm")
	testfs.WriteFile(t, p, file)
	var err error
	alloc := allocDuring(func() { _, err = LoadFiles([]string{p}, Options{}) })
	wantErr(t, err, ErrCorrupt, p)
	if alloc > 16<<20 {
		t.Errorf("allocated %d MB for a 4 GB claim inside an item", alloc>>20)
	}
}
