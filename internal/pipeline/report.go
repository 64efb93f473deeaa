package pipeline

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/render"
	"github.com/lungctl/lungctl/internal/report"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// ReportName is the file name of scan id's HTML report.
func ReportName(id string) string { return id + "_report.html" }

// IndexFile is the batch report index's file name, in the output folder.
const IndexFile = "index.html"

// ReportImages is how many findings (most malignant first) get pictures in
// a report; the others are listed with their numbers only, so a scan with
// hundreds of candidates still gives a page a browser opens.
const ReportImages = 20

// ReportViewMM is the side of each finding's plane views in mm.
const ReportViewMM = 60

// ReportInput is what one scan's report is made from.
type ReportInput struct {
	// Rec is the scan's record (as done.json holds it) and Cands its
	// candidates in file order (rank = position + 1).
	Rec   ScanRecord
	Cands []candidate.Candidate
	// HU and Lung are the 1 mm volume and its mask, for the overview
	// (Lung may be nil: the MIP then covers the whole volume).
	HU   *volume.Volume[int16]
	Lung *volume.Volume[uint8]
	// Source is the scan on its acquisition grid, for the findings'
	// pictures at source resolution; nil uses HU.
	Source *volume.Volume[int16]
}

// BuildReport assembles a scan's report: the patient summary from the
// record (probability, scorer, Lung-RADS, emphysema, covariates with their
// sources, model sha256, warnings), an overview MIP with the candidates
// circled and numbered by their rank, and per finding its measurements,
// scores and the axial, coronal and sagittal planes through its centre in
// the lung and mediastinal windows, rendered from Source (the acquisition
// grid) at its own resolution. The report orders the findings by
// malignancy; the first ReportImages get pictures.
func BuildReport(in ReportInput) (report.Patient, error) {
	rec := in.Rec
	p := report.Patient{ID: rec.ID, SeriesUID: rec.SeriesUID, Input: rec.Input, CancerProbability: rec.Cancer,
		Scorer: rec.Scorer, LungRADS: rec.LungRADS, ReportThreshold: ReportThreshold, Reported: rec.Reported, EmphysemaPct: math.NaN(), EmphysemaRawPct: math.NaN(), LungNoiseHU: math.NaN(), Clinical: clinicalKVs(rec.Clinical, rec.EmphysemaPct),
		ModelSHA256: rec.ModelSHA256, ToolVersion: rec.ToolVersion, Warnings: foldWarnings(rec.Warnings)}
	if p.ToolVersion == "" {
		p.ToolVersion = volio.ToolVersion
	}
	if rec.KernelSigmaMM != nil {
		p.KernelSigmaMM = *rec.KernelSigmaMM
	}
	p.ConvolutionKernel = rec.ConvolutionKernel
	if rec.EmphysemaPct != nil {
		p.EmphysemaPct = *rec.EmphysemaPct
	}
	if rec.EmphysemaRawPct != nil {
		p.EmphysemaRawPct = *rec.EmphysemaRawPct
	}
	if rec.LungNoiseHU != nil {
		p.LungNoiseHU = *rec.LungNoiseHU
	}
	order := Ordered(in.Cands, OrderMalignancy)
	sorted := make([]candidate.Candidate, len(order))
	numbers := make([]int, len(order))
	for r, i := range order {
		sorted[r], numbers[r] = in.Cands[i], i+1
	}
	img, _, err := render.OverviewImage(in.HU, in.Lung, sorted, render.OverviewOptions{TopK: -1, Ordered: true,
		Numbers: numbers, Title: rec.ID + "  (numbers: candidate rank, as in candidates.csv)"})
	if err != nil {
		return p, fmt.Errorf("report %s: %w", rec.ID, err)
	}
	if p.Overview, err = render.EncodePNG(img); err != nil {
		return p, fmt.Errorf("report %s: %w", rec.ID, err)
	}
	p.Findings = make([]report.Finding, len(in.Cands))
	for i, c := range in.Cands {
		p.Findings[i] = reportFinding(c, i+1)
	}
	src := in.Source
	if src == nil {
		src = in.HU
	}
	pictured := order[:min(len(order), ReportImages)]
	errs := make([]error, len(pictured))
	par.For(len(pictured), func(_, r int) {
		i := pictured[r]
		c := in.Cands[i]
		p.Findings[i].Images, errs[r] = report.FindingImages(src, c.World, ringDiameter(c), render.PlaneOptions{FOVMM: ReportViewMM})
	})
	for _, err := range errs {
		if err != nil {
			return p, fmt.Errorf("report %s: %w", rec.ID, err)
		}
	}
	return p, nil
}

// WriteReport builds the report (BuildReport) and writes it to path,
// atomically.
func WriteReport(path string, in ReportInput) error {
	p, err := BuildReport(in)
	if err != nil {
		return err
	}
	return report.WritePatient(path, p)
}

// reportFinding is candidate c (1-based rank) as the report shows it.
func reportFinding(c candidate.Candidate, rank int) report.Finding {
	f := report.Finding{Rank: rank, Label: fmt.Sprintf("N%d", rank), CentreLPS: c.World, Type: c.Type,
		LungRADS: c.LungRADS, Brock: c.Brock, CNN: c.CNN, DetectScore: c.DetectScore, UpperZone: c.UpperZone,
		LongAxisMM: math.NaN(), ShortAxisMM: math.NaN(), MeanDiameterMM: math.NaN(), VolumeMM3: math.NaN(),
		SolidDiameterMM: math.NaN(), Spiculation: math.NaN(), Lobulation: math.NaN(), PleuraDistanceMM: math.NaN()}
	if c.Type != "" {
		f.LongAxisMM, f.ShortAxisMM, f.MeanDiameterMM = c.LongAxisMM, c.ShortAxisMM, c.MeanDiameterMM
		f.VolumeMM3, f.SolidDiameterMM, f.Spiculation = c.VolumeMM3, c.SolidDiameterMM, c.Spiculation
		f.Lobulation, f.PleuraDistanceMM = c.Lobulation, c.PleuraDistanceMM
	}
	return f
}

// ringDiameter is the diameter (mm) the pictures ring: the measured long
// axis, else the detector's equivalent diameter.
func ringDiameter(c candidate.Candidate) float64 {
	if c.Type != "" && c.LongAxisMM > 0 {
		return c.LongAxisMM
	}
	if c.DiameterMM > 0 {
		return c.DiameterMM
	}
	return 10
}

// clinicalKVs lists the covariates as the report shows them: the value
// used and where it came from (laa: the measured LAA-950, %); defaulted
// ones are marked.
func clinicalKVs(c *ClinicalRecord, laa *float64) []report.KV {
	if c == nil {
		return nil
	}
	from := func(k string) string {
		switch c.Sources[k] {
		case SourceCSV:
			return " (--clinical CSV)"
		case SourceDICOM:
			return " (DICOM header)"
		case SourceCT:
			if laa != nil {
				return fmt.Sprintf(" (from the CT: LAA-950 %.1f %%, emphysema from 5 %%)", *laa)
			}
			return " (from the CT: LAA-950, emphysema from 5 %)"
		}
		return ""
	}
	def := map[string]bool{}
	for _, k := range c.Defaulted {
		def[k] = true
	}
	age := fmt.Sprintf("%g%s", c.AgeYears, from("age"))
	if def["age"] {
		age = fmt.Sprintf("%g (the model's centre)", c.AgeYears)
	}
	return []report.KV{
		{Key: "Age (years)", Value: age, Defaulted: def["age"]},
		{Key: "Sex", Value: c.Sex + from("sex"), Defaulted: def["sex"]},
		{Key: "Family history of lung cancer", Value: c.FamilyHistory + from("family_history"), Defaulted: def["family_history"]},
		{Key: "Emphysema", Value: c.Emphysema + from("emphysema"), Defaulted: def["emphysema"]},
	}
}

// foldWarnings keeps warnings as they are, except the routine skipped
// non-DICOM files beside the images, which become one line.
func foldWarnings(ws []string) []string {
	var out []string
	skipped := 0
	for _, w := range ws {
		if strings.HasPrefix(w, "skipped non-DICOM file ") {
			skipped++
			continue
		}
		out = append(out, w)
	}
	if skipped > 0 {
		out = append(out, fmt.Sprintf("%d non-DICOM file(s) beside the images were skipped (see the scan's provenance)", skipped))
	}
	return out
}

// WriteIndex writes the batch index (IndexFile with the shard suffix) in
// out: one row per scan, linking each complete scan's report when it has
// one, and the failed scans with their errors.
func WriteIndex(path string, recs []ScanRecord, failures []Failure) error {
	var ss []report.Summary
	for _, r := range recs {
		s := report.Summary{ID: r.ID, CancerProbability: r.Cancer, Scorer: r.Scorer, LungRADS: r.LungRADS,
			Findings: r.Candidates, Warnings: len(r.Warnings), Reported: r.Reported}
		name := ReportName(r.ID)
		for _, f := range r.Files {
			if f == name {
				s.Href = filepath.Join(r.ID, name)
			}
		}
		ss = append(ss, s)
	}
	for _, f := range failures {
		ss = append(ss, report.Summary{ID: f.ID, CancerProbability: math.NaN(), Error: f.Error, Reported: -1})
	}
	return report.WriteIndex(path, ss)
}
