// Package report writes what a radiologist reviews: one self-contained
// HTML file per patient (summary, findings table, one card per finding
// with its images) and an index.html for a batch.
//
// Each file stands alone: images are embedded as data: URLs, the style
// sheet is inline, nothing is fetched (a Content-Security-Policy meta tag
// forbids it, so a browser would refuse and report any stray reference).
// The patient report has no JavaScript; the index has a few lines that
// make its columns sortable and is already sorted without them. Every
// user-supplied string (ids, file names, warnings, covariates) goes
// through html/template's contextual escaping. Files are written
// atomically (internal/atomicfile).
//
// Units, as the pages' headers also say: lengths mm, volumes mm³,
// attenuation HU, probabilities in [0, 1] (shown as %), emphysema as % of
// lung voxels. NaN means "not computed" and is shown as "—".
//
// This is research software: the pages say so, and that they are not a
// diagnosis.
package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/lungctl/lungctl/internal/atomicfile"
)

// KV is one clinical covariate as the scorer used it.
type KV struct {
	// Key names the covariate, with its unit where it has one
	// (e.g. "Age (years)", "Sex", "Family history of lung cancer").
	Key string
	// Value is the value used, as text.
	Value string
	// Defaulted is true when the value was not supplied and the scorer's
	// documented default was used instead; the report marks it.
	Defaulted bool
}

// Image is one picture of a finding or of the patient.
type Image struct {
	// Title is the caption (e.g. "axial · lung window W 1500 L −600 HU").
	Title string
	// PNG holds the encoded image; anything that is not a PNG is shown as
	// "image unavailable" instead.
	PNG []byte
}

// Finding is one nodule as the report shows it.
type Finding struct {
	// Rank is the detector's rank (1 = highest detection score); 0 =
	// unknown. The report orders findings by malignancy instead (Sort).
	Rank int
	// Label names the finding as the overview image marks it (e.g. "N1");
	// empty: "#Rank".
	Label string
	// CentreLPS is the centre in LPS world mm (+x patient's left,
	// +y posterior, +z head), the frame of candidates.csv.
	CentreLPS [3]float64
	// Type is the attenuation class: "solid", "part-solid", "non-solid",
	// "calcified", "juxtapleural" (risk.NoduleType's names).
	Type string
	// LongAxisMM and ShortAxisMM are the longest axial diameter and the
	// longest diameter perpendicular to it (mm); MeanDiameterMM their mean
	// (mm, as Lung-RADS uses it); VolumeMM3 the segmented volume (mm³);
	// SolidDiameterMM the mean diameter of the solid component of a
	// part-solid nodule (mm). NaN = not measured.
	LongAxisMM, ShortAxisMM, MeanDiameterMM, VolumeMM3, SolidDiameterMM float64
	// Spiculation is the margin's spiculation score, dimensionless in
	// [0, 1] (0 smooth), as the nodule stage defines it; NaN = not measured.
	Spiculation float64
	// Lobulation is the margin's lobulation score in [0, 1] (0 smooth);
	// PleuraDistanceMM the distance (mm) to the pleura (or mediastinum or
	// diaphragm), 0 touching, 15 meaning 15 mm or more. NaN = not measured.
	Lobulation, PleuraDistanceMM float64
	// UpperZone is true for a nodule in an upper lobe (a Brock covariate).
	UpperZone bool
	// LungRADS is the finding's Lung-RADS v2022 category ("2", "4A", ...).
	LungRADS string
	// Brock and CNN are malignancy probabilities in [0, 1] from the Brock
	// (PanCan) model and the 3-D CNN; DetectScore the detector's score in
	// [0, 1]. NaN = not computed.
	Brock, CNN, DetectScore float64
	// Images are shown side by side, in order (three per row: e.g. axial,
	// coronal, sagittal in the lung window, then the same in the
	// mediastinal window; see FindingImages).
	Images []Image
}

// Patient is everything one report shows.
type Patient struct {
	// ID is the patient or scan id; SeriesUID the DICOM SeriesInstanceUID;
	// Input the scan's file or folder as given. All may be hostile text
	// (folder names): they are escaped.
	ID, SeriesUID, Input string
	// CancerProbability is the patient-level probability in [0, 1]; NaN =
	// unknown.
	CancerProbability float64
	// Scorer names what produced CancerProbability: "brock", "cnn" or
	// "fused" (other text is shown as given). It also picks the finding
	// probability the findings are ordered by (see Sort).
	Scorer string
	// LungRADS is the patient's category (its most suspicious reported
	// finding's).
	LungRADS string
	// ReportThreshold is the detection score from which a finding is
	// reported (counts for LungRADS and the Brock nodule count), and
	// Reported how many are; both are shown when ReportThreshold > 0.
	ReportThreshold float64
	Reported        int
	// EmphysemaPct is the percentage (0–100) of lung voxels below −950 HU;
	// NaN = not measured. EmphysemaRawPct is the same on the image as read
	// and LungNoiseHU the image noise read in the lung (NaN or 0: not
	// read); they differ from it when a noisy scan was smoothed to a
	// standard scan's noise first.
	EmphysemaPct    float64
	EmphysemaRawPct float64
	LungNoiseHU     float64
	// Clinical lists the covariates the scorer used, in order.
	Clinical []KV
	// ModelSHA256 is the CNN model file's sha256 (hex); ToolVersion
	// lungctl's version.
	ModelSHA256, ToolVersion string
	// KernelSigmaMM is the reconstruction kernel's in-plane blur σ (mm)
	// the measurements assumed, read from the scan's air–skin edge; 0 or
	// NaN: not read (a standard kernel's assumed).
	KernelSigmaMM float64
	// ConvolutionKernel is the vendor's name of the reconstruction kernel
	// (DICOM ConvolutionKernel), "" when the input does not say.
	ConvolutionKernel string
	// Warnings are shown prominently in the summary.
	Warnings []string
	// Overview is a PNG of the whole scan with the findings marked (e.g.
	// render.OverviewImage encoded with render.EncodePNG); nil: none.
	Overview []byte
	// Findings, in any order: the report sorts a copy (Sort).
	Findings []Finding
	// Generated is when the report was made; zero: not shown (so
	// identical inputs give identical files).
	Generated time.Time
}

// Summary is one row of a batch index.
type Summary struct {
	// ID is the patient or scan id (escaped).
	ID string
	// Href is the patient's report, relative to the index's folder, with
	// '/' or the OS separator (e.g. "LIDC-0001/report.html"); empty: no
	// link. Each path segment is percent-encoded.
	Href string
	// CancerProbability in [0, 1]; NaN = unknown. Scorer as in Patient.
	CancerProbability float64
	Scorer            string
	// LungRADS is the patient's category.
	LungRADS string
	// Findings is the number of findings; Warnings the number of warnings.
	Findings, Warnings int
	// Reported is how many findings are reported (at or above the report
	// threshold); negative: not known (shown as a dash).
	Reported int
	// Error, when not empty, says why the scan failed; the row is shown as
	// failed.
	Error string
}

// Summary returns p's index row, linking to href (see Summary.Href).
func (p Patient) Summary(href string) Summary {
	s := Summary{ID: p.ID, Href: href, CancerProbability: p.CancerProbability, Scorer: p.Scorer,
		LungRADS: p.LungRADS, Findings: len(p.Findings), Warnings: len(p.Warnings), Reported: -1}
	if p.ReportThreshold > 0 {
		s.Reported = p.Reported
	}
	return s
}

// Malignancy is the probability (in [0, 1]) a finding is ordered by under
// scorer: for "cnn" the CNN's, else Brock's; the other one when that is
// not computed; NaN when neither is. Values outside [0, 1] count as not
// computed.
func Malignancy(f Finding, scorer string) float64 {
	first, second := f.Brock, f.CNN
	if scorer == "cnn" {
		first, second = f.CNN, f.Brock
	}
	for _, p := range []float64{first, second} {
		if p >= 0 && p <= 1 {
			return p
		}
	}
	return math.NaN()
}

// Sort orders findings most suspicious first: by Malignancy under scorer
// times DetectScore (how likely the finding is a malignant lesion;
// Malignancy alone where DetectScore is NaN; not computed last), ties by
// DetectScore (higher first, NaN last), then by Rank (lower first, 0
// last). The sort is stable.
func Sort(fs []Finding, scorer string) {
	w := func(f Finding) float64 { return DetectionWeighted(Malignancy(f, scorer), f.DetectScore) }
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := DescNaNLast(w(a), w(b)); c != 0 {
			return c
		}
		if c := DescNaNLast(a.DetectScore, b.DetectScore); c != 0 {
			return c
		}
		ra, rb := a.Rank, b.Rank
		if ra <= 0 {
			ra = math.MaxInt
		}
		if rb <= 0 {
			rb = math.MaxInt
		}
		return cmp.Compare(ra, rb)
	})
}

// DetectionWeighted is the key findings and pictures are ranked by:
// malignancy times the detection score (how likely the finding is a
// malignant lesion), or malignancy alone where the detection score is NaN.
// Sort and pipeline.Ordered both use it, so the report and the snapshots
// agree.
func DetectionWeighted(malignancy, detect float64) float64 {
	if math.IsNaN(detect) {
		return malignancy
	}
	return malignancy * detect
}

// DescNaNLast compares for a descending order with NaN (and ±Inf, which no
// probability is) after every number.
func DescNaNLast(a, b float64) int {
	an, bn := !isFinite(a), !isFinite(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(b, a)
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// RenderPatient writes p's report as HTML to w.
func RenderPatient(w io.Writer, p Patient) error {
	if err := patientTmpl.Execute(w, newPatientView(p)); err != nil {
		return fmt.Errorf("report: patient %q: %w", p.ID, err)
	}
	return nil
}

// WritePatient writes p's report to path, atomically.
func WritePatient(path string, p Patient) error {
	var buf bytes.Buffer
	if err := RenderPatient(&buf, p); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// RenderIndex writes a batch index as HTML to w: one row per summary,
// ordered by cancer probability (highest first; unknown, then failed,
// last).
func RenderIndex(w io.Writer, ss []Summary) error {
	if err := indexTmpl.Execute(w, newIndexView(ss)); err != nil {
		return fmt.Errorf("report: index: %w", err)
	}
	return nil
}

// WriteIndex writes the batch index to path (usually index.html beside the
// patients' folders), atomically.
func WriteIndex(path string, ss []Summary) error {
	var buf bytes.Buffer
	if err := RenderIndex(&buf, ss); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
