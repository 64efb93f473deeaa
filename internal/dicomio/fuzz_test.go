package dicomio

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/shareddata"

	"github.com/lungctl/lungctl/internal/testfs"
)

// fuzzSeeds are small (< 40 KB) files of shared/data/odd used as the seed
// corpus; they are read in place, not copied into testdata. Small seeds
// keep the mutator fast.
var fuzzSeeds = []string{
	"pydicom-2.3.1-debian/CT_small.dcm",
	"pydicom-2.3.1-debian/MR_small_RLE.dcm",
	"pydicom-2.3.1-debian/MR_small_bigendian.dcm",
	"pydicom-2.3.1-debian/MR_small_implicit.dcm",
	"pydicom-2.3.1-debian/image_dfl.dcm",
	"pydicom-2.3.1-debian/no_meta.dcm",
	"pydicom-2.3.1-debian/rtplan_truncated.dcm",
	"pydicom-2.3.1-debian/dicomdirtests/77654033/CT2/17106",
}

func readSeeds(tb testing.TB) [][]byte {
	root := shareddata.Path("odd")
	var out [][]byte
	for _, rel := range fuzzSeeds {
		if b, err := os.ReadFile(filepath.Join(root, rel)); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// parseOne runs the per-file path Load uses on data: header parse,
// pixel-format checks and the decode of the first frames. It reports
// whether a panic was converted to an error (a library or codec bug caught
// by the safety net).
func parseOne(data []byte) (recovered bool) {
	h, err := parseBytes("fuzz", data)
	if err != nil {
		return strings.Contains(err.Error(), "parser failure")
	}
	if err := h.checkPixelFormat(); err != nil {
		return false
	}
	if h.rows*h.cols > 1<<20 {
		return false // valid but too big to decode quickly here
	}
	buf := make([]int32, h.rows*h.cols)
	var fr frameReader
	defer fr.close()
	for i := 0; i < min(h.numFrames, 3); i++ {
		if err := safeDecode(sliceRef{h: h, frame: i}, &fr, buf); err != nil && strings.Contains(err.Error(), "decoder failure") {
			recovered = true
		}
	}
	_, _ = h.rescale(0)
	return recovered
}

// FuzzParse feeds arbitrary bytes to the per-file parse path; nothing may
// panic (a panic inside the dicom library or a codec must come back as an
// error).
func FuzzParse(f *testing.F) {
	for _, b := range readSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(make([]byte, 132))
	for _, b := range hostileSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Claims are checked against a small budget: a claim the bytes
		// cannot back must be refused, not allocated.
		old := membudget.Limit()
		membudget.Set(256 << 20)
		defer membudget.Set(old)
		parseOne(data)
	})
}

// hostileSeeds are small files that exercise the limits: a 10,000-frame
// RLE claim, a deflated data set, nesting past MaxSequenceDepth, a NaN
// slope, a JPEG-LS frame.
func hostileSeeds() [][]byte {
	le := binary.LittleEndian
	claim := ctSlice("P", "1.1", 8192, 8192, 0, text(0x0028, 0x0008, "IS", "10000"))
	rle := make([]byte, 64)
	le.PutUint32(rle, 2)
	le.PutUint32(rle[4:], 64)
	le.PutUint32(rle[8:], 96)
	rle = append(rle, make([]byte, 64)...)
	ds := nestedSequences(nil, 80)
	deep := append(dcmBytes(tsExplicitLE, ctSlice("P", "1.2", 2, 2, 0), nil, nil), ds...)
	deep = appendElem(deep, elem{0x7FE0, 0x0010, "OW", make([]byte, 8)}, false)
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	var inner []byte
	for _, x := range ctSlice("P", "1.3", 2, 2, 0) {
		inner = appendElem(inner, x, false)
	}
	inner = appendElem(inner, elem{0x7FE0, 0x0010, "OW", make([]byte, 8)}, false)
	w.Write(inner)
	_ = w.Close() // in memory: cannot fail
	return [][]byte{
		dcmBytes(tsRLE, claim, nil, [][]byte{rle}),
		dcmBytes(tsJPEGLS, claim, nil, [][]byte{{0xFF, 0xD8, 0xFF, 0xD9}}),
		append(dcmBytes(tsDeflateLE, nil, nil, nil), z.Bytes()...),
		deep,
		dcmBytes(tsExplicitLE, ctSlice("P", "1.4", 2, 2, 0, text(0x0028, 0x1053, "DS", "NaN")), make([]byte, 8), nil),
	}
}

// FuzzZip feeds arbitrary bytes as a .zip to Load: no panic, no hang,
// and nothing read past the budget.
func FuzzZip(f *testing.F) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	// Small, fast entries (the frame claims of hostileSeeds take tens of
	// milliseconds each, which starves the fuzzer).
	for i, d := range hostileSeeds()[2:] {
		w, err := zw.Create(fmt.Sprintf("a/%d.dcm", i))
		if err == nil {
			_, err = w.Write(d)
		}
		testfs.Must(f, err)
	}
	w, err := zw.Create("../evil")
	if err == nil {
		_, err = w.Write([]byte("x"))
	}
	testfs.Must(f, err)
	testfs.Must(f, zw.Close())
	f.Add(b.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		old := membudget.Limit()
		membudget.Set(64 << 20)
		defer membudget.Set(old)
		p := filepath.Join(dir, "in.zip")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = Load(p, Options{})
	})
}

// TestParseMutations is a deterministic complement to FuzzParse that runs
// in every non-short test run: random byte flips, truncations, length-field
// smashes and splices of the seeds through the same path.
// DICOMIO_MUTATIONS sets the count (default 2000).
func TestParseMutations(t *testing.T) {
	if testing.Short() {
		t.Skip("mutation sweep skipped in -short mode")
	}
	seeds := readSeeds(t)
	if len(seeds) == 0 {
		t.Skip("seed files not available under shared/data/odd")
	}
	n := 2000
	if s := os.Getenv("DICOMIO_MUTATIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	recovered := 0
	for it := 0; it < n; it++ {
		seed := seeds[it%len(seeds)]
		data := append([]byte(nil), seed...)
		switch rng.IntN(4) {
		case 0: // byte flips
			for m := 0; m < 1+rng.IntN(16); m++ {
				data[rng.IntN(len(data))] = byte(rng.IntN(256))
			}
		case 1: // truncation
			data = data[:rng.IntN(len(data)+1)]
		case 2: // smash a 4-byte length to a huge or odd value
			p := rng.IntN(max(1, len(data)-4))
			v := []uint32{0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, 1, 3, uint32(len(data))}[rng.IntN(6)]
			for k := 0; k < 4 && p+k < len(data); k++ {
				data[p+k] = byte(v >> (8 * k))
			}
		case 3: // splice two seeds
			other := seeds[rng.IntN(len(seeds))]
			cut := rng.IntN(len(data) + 1)
			data = append(data[:cut], other[rng.IntN(len(other)):]...)
		}
		if parseOne(data) {
			recovered++
		}
	}
	t.Logf("%d mutations, %d panics caught by the safety net", n, recovered)
}
