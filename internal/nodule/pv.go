package nodule

import "math"

// smoothMM is the Gaussian σ (mm) of the box's light smoothing against
// noise (step 1 of Segment).
const smoothMM = 0.8

// psfMM is the σ (mm) assumed for the scanner's in-plane point spread: a
// FWHM of about 1.06 mm, that of a standard (soft-tissue) reconstruction
// kernel. A sharp (lung) kernel blurs less, so the correction below is
// then somewhat too large; the effect is small beside the slice profile's
// (σ 0.98 instead of 1.04 mm in-plane for a FWHM of 0.6 mm at 1 mm
// spacing).
const psfMM = 0.45

// pvSmallA is the centre attenuation below which a lesion counts as small
// for the partial-volume density model: under it (a ball of under about
// 6 mm at 2.5 mm slices) the smoothed peak is not the lesion's density.
const pvSmallA = 0.9

// pvMinA is the least centre attenuation the partial-volume model is
// trusted at: a body so small that under 30 % of its contrast would reach
// its centre (under about 2.5 mm across at 2.5 mm slices) is a fleck or a
// fragment, not a measurable lesion, and noise would be amplified without
// limit; its type comes from its measured density, and the reported
// density is corrected as if 30 % did.
const pvMinA = 0.3

// blurSigma is the effective isotropic Gaussian σ (mm) of the smoothed box
// that Segment measures density on, from the acquisition spacing src (mm;
// zero components: the 1 mm grid's spacing grid is the acquisition's) and
// slice thickness (mm; 0: the z spacing): per axis the variance of the
// box's smoothing (smoothMM), of the scanner's point spread (psfMM), of
// the slice profile, w²/12 for a width w (the thickness along z, the
// spacing in-plane), and of the linear interpolation from spacing s onto
// the 1 mm grid, s²/6; the three axes combine by the geometric mean of
// their σ, which is what the centre of a ball sees.
func blurSigma(src [3]float64, thickness float64, grid [3]float64) float64 {
	p := 1.0
	for a := 0; a < 3; a++ {
		s := src[a]
		if !(s > 0) || math.IsInf(s, 0) {
			s = grid[a]
		}
		s = math.Max(s, grid[a])
		w := s
		if a == 2 && thickness > s && !math.IsInf(thickness, 0) {
			w = thickness
		}
		p *= math.Sqrt(smoothMM*smoothMM + psfMM*psfMM + w*w/12 + s*s/6)
	}
	return math.Cbrt(p)
}

// ballCentreFraction is the fraction of a ball's contrast that reaches its
// centre after an isotropic Gaussian blur of σ mm: the probability that a
// 3-D Gaussian of σ falls within radius r mm,
// erf(t/√2) − √(2/π)·t·exp(−t²/2) with t = r/σ.
func ballCentreFraction(r, sigma float64) float64 {
	if !(sigma > 0) {
		return 1
	}
	t := r / sigma
	return math.Erf(t/math.Sqrt2) - math.Sqrt(2/math.Pi)*t*math.Exp(-t*t/2)
}

// pvDensity estimates the density (HU) of a small lesion from its blurred
// peak: a ball of radius r mm and density ρ in background bg, blurred by
// σ, peaks at bg + A·(ρ − bg) with A = ballCentreFraction(r, σ), so
// ρ = bg + (peak − bg)/A (A at least pvMinA). It also returns A.
func pvDensity(peak, bg, r, sigma float64) (rho, a float64) {
	a = ballCentreFraction(r, sigma)
	return bg + (peak-bg)/math.Max(a, pvMinA), a
}

// pvWallMax is the share of a small lesion's surface against the chest
// wall, mediastinum or diaphragm (Result.WallContact) from which its
// partial-volume density cannot make it calcified: the wall's own blur
// raises its peak, and the part of it inside the wall is not in its
// volume, so the model overstates its density.
const pvWallMax = 0.05
