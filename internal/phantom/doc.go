// Package phantom generates synthetic chest CT scans with known lesions: a
// volume in Hounsfield units on a realistic acquisition grid (LPS world mm),
// the lesion truth (centre, diameters, axes, volume, type, spiculation,
// location, malignancy), a DICOM writer that produces a real CT series from
// it, a LUNA16-style truth CSV, and small 1 mm patches for CNN training.
//
// Everything is deterministic per seed: the same Options give the same
// voxels, the same UIDs and the same DICOM bytes, whatever the number of
// workers (internal/par's budget).
//
// # Anatomy
//
// HU before the acquisition model: air −1000 outside the body; a curved
// table plate (+200) under the patient, separated from the body by an air
// gap; the body (skin and muscle +40, a subcutaneous fat layer −100); ribs
// (+700 bony tubes, intermittent along z); a vertebral column (+350 with +80
// discs); two lungs (−850, left smaller, rounded apex, domed diaphragm); a
// trachea (air, −1000, with a +40 wall) entering from the top and splitting
// into two main bronchi, and thinner segmental bronchi (air with a
// soft-tissue wall) beside the larger arteries inside the lungs; pulmonary
// vessels as trees of tapering tubes (+40, radius ≈5 mm at the hila down to
// < 1 mm) that bifurcate at every segment's end; lesions (see Kind).
//
// # Confounders
//
// Not lesions, never in the truth, left out with Options.NoConfounders:
//
//   - gravity-dependent density: in the dorsal 10–30 mm of each lung (drawn
//     per lung) the density rises smoothly (smoothstep in the depth below
//     the posterior pleura) from −850 to −800…−650 HU (drawn per lung) at
//     the pleura, as in a supine patient;
//   - 2–4 linear scars or bands of plate atelectasis in the lower lungs:
//     plates 1.2–2.8 mm thick, 16–40 mm long and 6–20 mm high, −100…+20 HU,
//     running from the lateral or posterior pleura inwards;
//   - the vessels' bifurcations (anatomy).
//
// # Acquisition model
//
// Realistic partial volume, resolution and noise, so that small and faint
// lesions look as they do in real CT (Options holds every parameter):
//
//   - partial volume: large solids (body, lungs, ribs, spine, airways) are
//     anti-aliased analytically (each voxel takes the fraction of its box
//     the solid covers, from the signed distance and the voxel's extent
//     along the surface normal); lesions are supersampled: every voxel a
//     lesion boundary may cross averages 2–4 × 2–4 × 2–4 samples of the
//     analytic solid (one per ≈ 0.35 mm, per axis);
//   - slice sensitivity profile: vessels, bronchi, scars and lesions are
//     rendered on sub-slices no thicker than a pixel (nor 1 mm; 4 per
//     2.5 mm slice at Full size, 3 at Small) and combined with a Gaussian
//     profile of FWHM Options.SliceProfileFWHMMM (default: the slice
//     spacing, 2.5 mm) truncated at 3σ; the larger solids get a box as
//     thick as the slice spacing;
//   - point-spread function: a Gaussian of FWHM Options.PSFFWHMPixels
//     (default 1.5 pixels: 1.05 mm at Full size) in-plane, after the pixel
//     average;
//   - noise: Gaussian white noise minus its 7 × 7-pixel mean, blurred by
//     the PSF together with the image (so correlated like a reconstruction
//     kernel's, with no power at zero frequency), scaled to a standard
//     deviation of Options.NoiseHU (default 20 HU) in a uniform region;
//   - edge enhancement (Options.EdgeEnhance, off by default): a sharp
//     kernel's unsharp mask, x + a·(x − G x) with G a Gaussian of one
//     pixel's σ, after the PSF, with the noise scaled so that its standard
//     deviation after the whole filter is still Options.NoiseHU;
//   - values are rounded and clamped to [−1024, 3071] HU; outside the
//     scanner's circular field of view the volume holds −1000 (what a loader
//     produces from the padding value that WriteDICOM stores there).
//
// Patch uses the simpler model of the original generator (1 mm voxels,
// box partial volume, white noise), see Patch.
package phantom
