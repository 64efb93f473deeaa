// Package risk turns measured nodules and patient covariates into the two
// numbers a lung screening report carries: the Brock University (PanCan)
// probability that a nodule is malignant, and the ACR Lung-RADS v2022
// category.
//
// What is here, and where each number comes from (every constant's source
// is repeated beside the constant):
//
//   - Brock: the full PanCan model with spiculation ("model 2b") of
//     McWilliams et al., N Engl J Med 2013;369:910-919,
//     doi:10.1056/NEJMoa1214726. One probability per nodule.
//   - Clinical: age, sex, family history of lung cancer and emphysema, each
//     either known or unknown, with documented defaults for the unknown ones
//     and a record of which fields were defaulted; DICOM PatientAge and
//     PatientSex parsing; the --clinical CSV reader.
//   - LungRADS: the ACR Lung-RADS v2022 baseline (first screening) category
//     of one nodule, and MostSuspicious for the patient's category.
//   - NoisyOR: a leaky noisy-OR over a patient's k most suspicious nodules,
//     the same aggregation lungctl classify uses.
//   - LAA950 and EmphysemaPresent: the percentage of lung voxels at or below
//     −950 HU and the conventional 5 % cut that turns it into the yes/no the
//     Brock model takes.
//
// Units: lengths in mm, volumes in mm³, attenuation in Hounsfield units
// (HU), ages in years, percentages in % (0–100), probabilities in [0, 1].
//
// Nothing here is a medical device. The Brock model was fitted on a
// screening cohort of current and former smokers (the PanCan study); outside
// that population its probabilities are extrapolations.
package risk
