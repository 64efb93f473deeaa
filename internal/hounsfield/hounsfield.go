// Package hounsfield converts stored CT pixel values to Hounsfield units (HU)
// and replaces padding and out-of-scan-circle values with air, the same way
// for every input kind (DICOM, MetaImage, NIfTI).
//
// The rule, in two steps:
//
//  1. ToHU (readers that hold stored values, DICOM): a stored value s (a raw
//     sample, sign-extended according to PixelRepresentation/BitsStored) is
//     padding when the series declares PixelPaddingValue p and s == p, or,
//     with PixelPaddingRangeLimit l, min(p,l) <= s <= max(p,l); padding is
//     written as PaddingHU. Otherwise hu = s*Slope + Intercept, rounded to
//     the nearest integer (half away from zero) and clamped to the int16
//     range. A slope that is 0, NaN or infinite, or an intercept that is NaN
//     or infinite, is refused (ErrBadRescale), never replaced. ToHU counts
//     the values it clamps; Saturation turns the count of a volume into a
//     warning, or refuses the volume (ErrSaturated) when more than
//     MaxSaturated of its voxels were clamped.
//  2. Normalize (every input kind, once, in the preprocess path, before
//     resampling): every value below OutsideBelowHU (−1100 HU) becomes
//     AirHU (−1000). This takes the scanners' out-of-field fill (GE/LIDC
//     −2048, Toshiba −2048, −2000, Siemens/Philips −3024, head scanners
//     −1500, a plastimatch or ITK export's −2048 padding) and the
//     PaddingHU marks of step 1. Real tissue and air never lie below about
//     −1024 HU, so nothing measured is lost.
//
// Readers of files that already hold HU (NIfTI, MetaImage) only round and
// clamp to int16 (counting, and Saturation judging, the clamped values too);
// Normalize then treats their padding like DICOM's.
package hounsfield

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/par"
)

// AirHU is the value, in HU, written for padding and out-of-field voxels.
const AirHU = -1000

// OutsideBelowHU is the threshold, in HU after rescale: values strictly below
// it are out-of-scan-circle fill and become AirHU.
const OutsideBelowHU = -1100

// PaddingHU is what ToHU writes for a padding value: −3024 HU, the value
// Siemens and Philips scanners themselves write outside the scan circle, so a
// volume that has not been through Normalize looks like such a scan (and
// Normalize turns it into AirHU, as it is below OutsideBelowHU). A volume that has
// not been through Normalize may hold it.
const PaddingHU = -3024

// ErrBadRescale reports a RescaleSlope that is 0, NaN or infinite, or a
// RescaleIntercept that is NaN or infinite: the stored values cannot be
// turned into HU.
var ErrBadRescale = errors.New("unusable rescale slope or intercept")

// ErrSaturated reports a volume more than MaxSaturated of whose voxels lie
// beyond the int16 range (−32768…32767 HU) after rescale: the rescale or
// the data type is wrong (a RescaleSlope of 10³⁰, unsigned 64-bit samples of
// 2⁶³), not the tissue, and clamping would turn the scan into a block of
// 32767 HU.
var ErrSaturated = errors.New("voxel values beyond the int16 HU range")

// MaxSaturated is the share of a volume's voxels that may be clamped to the
// int16 range (each reader warns when any are); real CT stays within about
// −1024…30,000 HU.
const MaxSaturated = 0.01

// Saturation judges clamped of total voxels: nil and "" when none was
// clamped, a sentence for a warning when at most MaxSaturated of them were,
// and an error wrapping ErrSaturated, with the counts, when more were.
func Saturation(clamped, total int) (warning string, err error) {
	if clamped <= 0 {
		return "", nil
	}
	msg := fmt.Sprintf("%d of %d voxels (%.3g%%) lie beyond the int16 range (−32768…32767 HU) after rescale", clamped, total, 100*float64(clamped)/float64(max(total, 1)))
	if float64(clamped) > MaxSaturated*float64(total) {
		return "", fmt.Errorf("%w: %s; more than %g%% means a wrong rescale or data type, not tissue", ErrSaturated, msg, 100*MaxSaturated)
	}
	return msg + "; clamped to it", nil
}

// Rescale describes how one slice's stored values map to HU:
// HU = stored*Slope + Intercept (DICOM RescaleSlope/RescaleIntercept), plus
// the padding values, as stored (raw sample units, not HU).
type Rescale struct {
	// Slope is RescaleSlope (HU per stored unit); 1 when the file has none.
	Slope float64
	// Intercept is RescaleIntercept in HU; 0 when the file has none.
	Intercept float64
	// Padding is PixelPaddingValue as stored (sign-interpreted with the
	// pixel representation), nil if absent.
	Padding *int32
	// PaddingRangeLimit is PixelPaddingRangeLimit as stored, nil if absent;
	// with Padding it marks the inclusive range of padding values.
	PaddingRangeLimit *int32
}

// Identity is the rescale of data already stored in HU (slope 1, intercept 0,
// no padding value).
var Identity = Rescale{Slope: 1}

// Validate returns an error wrapping ErrBadRescale, saying which value is
// wrong, when the slope is 0, NaN or infinite or the intercept NaN or
// infinite.
func (r Rescale) Validate() error {
	switch {
	case math.IsNaN(r.Slope) || math.IsInf(r.Slope, 0):
		return fmt.Errorf("%w: RescaleSlope is %v", ErrBadRescale, r.Slope)
	case r.Slope == 0:
		return fmt.Errorf("%w: RescaleSlope is 0 (every voxel would be the intercept)", ErrBadRescale)
	case math.IsNaN(r.Intercept) || math.IsInf(r.Intercept, 0):
		return fmt.Errorf("%w: RescaleIntercept is %v", ErrBadRescale, r.Intercept)
	}
	return nil
}

// padRange returns the inclusive stored-value range that is padding, and
// whether there is one.
func (r Rescale) padRange() (lo, hi int64, ok bool) {
	if r.Padding == nil {
		return 0, 0, false
	}
	lo, hi = int64(*r.Padding), int64(*r.Padding)
	if r.PaddingRangeLimit != nil {
		l := int64(*r.PaddingRangeLimit)
		if l < lo {
			lo = l
		} else {
			hi = l
		}
	}
	return lo, hi, true
}

// Stored is the type of stored sample values: int32 for signed and up to
// 31-bit unsigned samples, uint32 for unsigned 32-bit ones (so values of
// 2³¹ and more keep their value).
type Stored interface{ ~int32 | ~uint32 }

// ToHU applies step 1 of the package rule, writing dst[i] for stored[i]; it
// converts min(len(dst), len(stored)) values and returns how many of them
// lay beyond the int16 range and were clamped (see Saturation). It returns
// r.Validate()'s error, writing nothing, when the rescale is unusable.
func ToHU[S Stored](dst []int16, stored []S, r Rescale) (clamped int, err error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	n := min(len(dst), len(stored))
	dst, stored = dst[:n], stored[:n]
	lo, hi, pad := r.padRange()
	if !pad {
		lo, hi = 1, 0 // an empty range
	}
	slope, icpt := r.Slope, r.Intercept
	// Integer fast path: slope 1 and an integral intercept (nearly all CT).
	if slope == 1 && icpt == math.Trunc(icpt) && math.Abs(icpt) < 1<<40 {
		ic := int64(icpt)
		if !pad {
			for i, s := range stored {
				h := int64(s) + ic
				if h != int64(int16(h)) {
					clamped++
					h = clamp16(h)
				}
				dst[i] = int16(h)
			}
			return clamped, nil
		}
		span := uint64(hi - lo)
		for i, s := range stored {
			if uint64(int64(s)-lo) <= span {
				dst[i] = PaddingHU
				continue
			}
			h := int64(s) + ic
			if h != int64(int16(h)) {
				clamped++
				h = clamp16(h)
			}
			dst[i] = int16(h)
		}
		return clamped, nil
	}
	for i, s := range stored {
		if v := int64(s); v >= lo && v <= hi {
			dst[i] = PaddingHU
			continue
		}
		h := math.Round(float64(s)*slope + icpt)
		switch {
		case h <= math.MinInt16:
			if h < math.MinInt16 {
				clamped++
			}
			dst[i] = math.MinInt16
		case h >= math.MaxInt16:
			if h > math.MaxInt16 {
				clamped++
			}
			dst[i] = math.MaxInt16
		default:
			dst[i] = int16(h)
		}
	}
	return clamped, nil
}

func clamp16(h int64) int64 {
	return min(max(h, math.MinInt16), math.MaxInt16)
}

// Normalize applies step 2 of the package rule to a volume's HU voxels in
// place (in parallel under internal/par's budget) and returns how many
// voxels became AirHU.
func Normalize(hu []int16) int {
	var count atomic.Int64
	par.Chunks(len(hu), 1<<18, func(_, lo, hi int) {
		n := 0
		d := hu[lo:hi]
		for i, v := range d {
			if v < OutsideBelowHU {
				d[i] = AirHU
				n++
			}
		}
		count.Add(int64(n))
	})
	return int(count.Load())
}

// Value converts one stored value to HU with the whole rule (ToHU, then
// Normalize); an unusable rescale gives AirHU and the error.
func Value(stored int32, r Rescale) (int16, error) {
	var d [1]int16
	if _, err := ToHU(d[:], []int32{stored}, r); err != nil {
		return AirHU, err
	}
	Normalize(d[:])
	return d[0], nil
}
