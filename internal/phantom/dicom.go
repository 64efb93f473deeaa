package phantom

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/par"
)

// DICOM constants of the series WriteDICOM writes.
const (
	// CTImageStorage is the SOP class UID of every file.
	CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	// ExplicitVRLittleEndian is the transfer syntax of every file.
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	// RescaleIntercept is the intercept written (HU = stored + intercept,
	// slope 1).
	RescaleIntercept = -1024
	// PaddingStored is the stored value written outside the scan circle
	// (−1024, i.e. −2048 HU after rescale), as GE scanners in LIDC-IDRI do.
	PaddingStored = -1024
	// PaddingValueTag is the PixelPaddingValue (0028,0120) written, US 63536
	// (−2000 as int16), copied from LIDC-IDRI-0001: like those files it does
	// not match the padding actually stored, so a loader must also treat
	// values below −1024 HU as outside air.
	PaddingValueTag   = 63536
	implementationUID = "2.25.201748462914310327619264219836140217383"
)

// ErrNoScan reports a Chest without a usable HU volume.
var ErrNoScan = errors.New("phantom: chest has no HU volume")

// makeUID returns a deterministic UID in the 2.25.<decimal> form (a UUID-like
// 128-bit integer) from the seed, a purpose and an index.
func makeUID(seed int64, what string, i int) string {
	h := sha256.New()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	h.Write(b[:])
	_, _ = io.WriteString(h, what) // a hash.Hash never fails a Write
	sum := h.Sum(nil)
	sum[0] |= 0x80 // 128 significant bits, no leading zero
	return "2.25." + new(big.Int).SetBytes(sum[:16]).String()
}

// ds formats a DICOM decimal string (at most 16 characters).
func ds(v float64) string {
	for p := 12; p >= 0; p-- {
		s := strconv.FormatFloat(v, 'f', p, 64)
		// trim trailing zeros of the fraction
		if p > 0 {
			for s[len(s)-1] == '0' {
				s = s[:len(s)-1]
			}
			if s[len(s)-1] == '.' {
				s = s[:len(s)-1]
			}
		}
		if len(s) <= 16 {
			if s == "-0" {
				s = "0"
			}
			return s
		}
	}
	return strconv.FormatFloat(v, 'g', 10, 64)
}

// FileOrder returns, for the chest's seed, the file name of each slice k
// (sorted by increasing z) and whether InstanceNumber decreases with z. The
// names are a random permutation of 000001.dcm … so that name order is not
// z order.
func FileOrder(seed int64, nz int) (names []string, descending bool) {
	rng := newRand(seed, 7)
	descending = rng.IntN(2) == 1
	perm := rng.Perm(nz)
	names = make([]string, nz)
	for k := range names {
		names[k] = fmt.Sprintf("%06d.dcm", perm[k]+1)
	}
	return names, descending
}

// WriteDICOM writes c as a CT series of one file per slice into dir (created
// if needed): Explicit VR Little Endian, signed 16-bit stored values
// HU + 1024 (RescaleIntercept −1024, slope 1), PaddingStored outside the scan
// circle, axial orientation 1\0\0\0\1\0, and file names and instance
// numbers as FileOrder says. Each file is written atomically; slices are
// written in parallel under par's worker budget.
func WriteDICOM(dir string, c *Chest) error {
	if c == nil || c.HU == nil {
		return fmt.Errorf("phantom: %s: %w", dir, ErrNoScan)
	}
	if err := c.HU.Check(); err != nil {
		return fmt.Errorf("phantom: %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("phantom: %w", err)
	}
	nz := c.HU.Dims[2]
	names, desc := FileOrder(c.Seed, nz)
	var mu sync.Mutex
	var first error
	pix := make([][]byte, par.Limit())
	par.For(nz, func(w, k int) {
		if pix[w] == nil {
			pix[w] = make([]byte, 2*c.HU.Dims[0]*c.HU.Dims[1])
		}
		inst := k + 1
		if desc {
			inst = nz - k
		}
		path := filepath.Join(dir, names[k])
		if err := writeSlice(path, c, k, inst, pix[w]); err != nil {
			mu.Lock()
			if first == nil {
				first = fmt.Errorf("phantom: %s: %w", path, err)
			}
			mu.Unlock()
		}
	})
	return first
}

func writeSlice(path string, c *Chest, k, inst int, pix []byte) error {
	g := c.HU.Grid
	nx, ny := g.Dims[0], g.Dims[1]
	src := c.HU.Data[k*nx*ny : (k+1)*nx*ny]
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			o := j*nx + i
			v := int16(PaddingStored)
			if InScanCircle(i, j, nx, ny) {
				v = src[o] - RescaleIntercept
			}
			binary.LittleEndian.PutUint16(pix[2*o:], uint16(v))
		}
	}
	ipp := g.IndexToWorld([3]float64{0, 0, float64(k)})
	sop := makeUID(c.Seed, "sop", k)
	var elems []*dicom.Element
	var err error
	put := func(t tag.Tag, v any) {
		if err != nil {
			return
		}
		var e *dicom.Element
		e, err = dicom.NewElement(t, v)
		if err == nil {
			elems = append(elems, e)
		}
	}
	s := func(v ...string) []string { return v }
	put(tag.FileMetaInformationVersion, []byte{0, 1})
	put(tag.MediaStorageSOPClassUID, s(CTImageStorage))
	put(tag.MediaStorageSOPInstanceUID, s(sop))
	put(tag.TransferSyntaxUID, s(ExplicitVRLittleEndian))
	put(tag.ImplementationClassUID, s(implementationUID))
	put(tag.ImplementationVersionName, s("LUNGCTL_PHANTOM"))
	put(tag.SpecificCharacterSet, s("ISO_IR 100"))
	put(tag.ImageType, s("ORIGINAL", "PRIMARY", "AXIAL"))
	put(tag.SOPClassUID, s(CTImageStorage))
	put(tag.SOPInstanceUID, s(sop))
	put(tag.StudyDate, s("20000101"))
	put(tag.SeriesDate, s("20000101"))
	put(tag.StudyTime, s("120000"))
	put(tag.Modality, s("CT"))
	put(tag.Manufacturer, s("LUNGCTL PHANTOM"))
	put(tag.SeriesDescription, s("synthetic chest CT"))
	put(tag.PatientName, s("Phantom^"+strconv.FormatInt(c.Seed, 10)))
	put(tag.PatientID, s(c.PatientID))
	put(tag.BodyPartExamined, s("CHEST"))
	put(tag.SliceThickness, s(ds(g.Spacing[2])))
	put(tag.KVP, s("120"))
	put(tag.GantryDetectorTilt, s("0"))
	put(tag.PatientPosition, s("FFS"))
	put(tag.StudyInstanceUID, s(c.StudyUID))
	put(tag.SeriesInstanceUID, s(c.SeriesUID))
	put(tag.SeriesNumber, s("1"))
	put(tag.InstanceNumber, s(strconv.Itoa(inst)))
	put(tag.ImagePositionPatient, s(ds(ipp[0]), ds(ipp[1]), ds(ipp[2])))
	put(tag.ImageOrientationPatient, s("1", "0", "0", "0", "1", "0"))
	put(tag.FrameOfReferenceUID, s(c.FrameOfReferenceUID))
	put(tag.SliceLocation, s(ds(ipp[2])))
	put(tag.SamplesPerPixel, []int{1})
	put(tag.PhotometricInterpretation, s("MONOCHROME2"))
	put(tag.Rows, []int{ny})
	put(tag.Columns, []int{nx})
	// PixelSpacing is row spacing (between rows, y) \ column spacing (x).
	put(tag.PixelSpacing, s(ds(g.Spacing[1]), ds(g.Spacing[0])))
	put(tag.BitsAllocated, []int{16})
	put(tag.BitsStored, []int{16})
	put(tag.HighBit, []int{15})
	put(tag.PixelRepresentation, []int{1})
	put(tag.PixelPaddingValue, []int{PaddingValueTag})
	put(tag.WindowCenter, s("-600"))
	put(tag.WindowWidth, s("1600"))
	put(tag.RescaleIntercept, s(strconv.Itoa(RescaleIntercept)))
	put(tag.RescaleSlope, s("1"))
	put(tag.RescaleType, s("HU"))
	put(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pix})
	if err != nil {
		return err
	}
	for _, e := range elems {
		if e.Tag == tag.PixelPaddingValue {
			e.RawValueRepresentation = "US"
		}
	}
	sort.SliceStable(elems, func(a, b int) bool {
		ta, tb := elems[a].Tag, elems[b].Tag
		if ta.Group != tb.Group {
			return ta.Group < tb.Group
		}
		return ta.Element < tb.Element
	})
	return atomicfile.Write(path, func(w io.Writer) error {
		return dicom.Write(w, dicom.Dataset{Elements: elems})
	})
}
