// Package hounsfield converts stored CT pixel values to Hounsfield units (HU)
// and replaces padding and out-of-scan-circle values with air.
//
// The exact rule applied by ToHU to every stored value s (a raw sample, already
// sign-extended according to PixelRepresentation/BitsStored) is:
//
//  1. If the series declares PixelPaddingValue p (and optionally
//     PixelPaddingRangeLimit l), s is padding when s == p, or, with l
//     present, when min(p,l) <= s <= max(p,l). Padding becomes AirHU.
//  2. Otherwise hu = s*Slope + Intercept, rounded to the nearest integer.
//  3. If hu < OutsideBelowHU (−1100 HU) the voxel is treated as the
//     scanner's out-of-field fill (GE/LIDC −2048, Toshiba −2048, −2000,
//     Siemens/Philips −3024, head scanners −1500) and becomes AirHU. Real
//     tissue and air never lie below about −1024 HU, so nothing measured is
//     lost.
//  4. The result is clamped to the int16 range [−32768, 32767].
package hounsfield

import "math"

// AirHU is the value, in HU, written for padding and out-of-field voxels.
const AirHU = -1000

// OutsideBelowHU is the threshold, in HU after rescale: values strictly below
// it are out-of-scan-circle fill and become AirHU.
const OutsideBelowHU = -1100

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

// padRange returns the inclusive stored-value range that is padding, and
// whether there is one.
func (r Rescale) padRange() (lo, hi int32, ok bool) {
	if r.Padding == nil {
		return 0, 0, false
	}
	lo, hi = *r.Padding, *r.Padding
	if r.PaddingRangeLimit != nil {
		l := *r.PaddingRangeLimit
		if l < lo {
			lo = l
		} else {
			hi = l
		}
	}
	return lo, hi, true
}

// ToHU converts stored values to HU following the package rule, writing
// dst[i] for stored[i]; it converts min(len(dst), len(stored)) values.
// A Slope of 0 or NaN is treated as 1 (a broken header must not zero a scan).
func ToHU(dst []int16, stored []int32, r Rescale) {
	n := min(len(dst), len(stored))
	dst, stored = dst[:n], stored[:n]
	slope := r.Slope
	if slope == 0 || math.IsNaN(slope) || math.IsInf(slope, 0) {
		slope = 1
	}
	icpt := r.Intercept
	if math.IsNaN(icpt) || math.IsInf(icpt, 0) {
		icpt = 0
	}
	lo, hi, pad := r.padRange()
	if !pad {
		// An empty range no int32 can fall into.
		lo, hi = 1, 0
	}
	// Integer fast path: slope 1 and an integral intercept (nearly all CT).
	if slope == 1 && icpt == math.Trunc(icpt) && math.Abs(icpt) < 1<<30 {
		ic := int64(icpt)
		if !pad {
			for i, s := range stored {
				h := int64(s) + ic
				if h < OutsideBelowHU {
					h = AirHU
				}
				if h > math.MaxInt16 {
					h = math.MaxInt16
				}
				dst[i] = int16(h)
			}
			return
		}
		span := uint32(hi - lo)
		for i, s := range stored {
			h := int64(s) + ic
			if h < OutsideBelowHU || uint32(s-lo) <= span {
				h = AirHU
			}
			if h > math.MaxInt16 {
				h = math.MaxInt16
			}
			dst[i] = int16(h)
		}
		return
	}
	for i, s := range stored {
		if s >= lo && s <= hi {
			dst[i] = AirHU
			continue
		}
		h := math.Round(float64(s)*slope + icpt)
		if h < math.MinInt32 {
			h = math.MinInt32
		} else if h > math.MaxInt32 {
			h = math.MaxInt32
		}
		dst[i] = clampHU(int64(h))
	}
}

// clampHU applies steps 3 and 4 of the package rule to one rescaled value.
func clampHU(h int64) int16 {
	if h < OutsideBelowHU {
		return AirHU
	}
	if h > math.MaxInt16 {
		return math.MaxInt16
	}
	return int16(h)
}

// Value converts one stored value to HU with the same rule as ToHU.
func Value(stored int32, r Rescale) int16 {
	var d [1]int16
	ToHU(d[:], []int32{stored}, r)
	return d[0]
}
