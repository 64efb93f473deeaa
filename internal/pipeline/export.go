package pipeline

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/export"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/volume"
)

// MaxLabel is the largest candidate rank a uint8 label map (and a DICOM SEG
// segment number) can hold; candidates ranked lower are left out of the
// exports, with a warning.
const MaxLabel = 255

// ExportNames are the files WriteExports writes for scan id (relative to
// its folder): the Slicer markups, the label map and, for DICOM sources, the
// SEG and the SR.
func ExportNames(id string) (markups, labels, seg, sr string) {
	return id + "_findings.mrk.json", id + "_labels.nii.gz", id + "_seg.dcm", id + "_sr.dcm"
}

// Exported is what WriteExports wrote: file names relative to its folder,
// and warnings (a non-DICOM source, candidates beyond MaxLabel, a lesion
// the SEG could not place on any source slice).
type Exported struct {
	Files, Warnings []string
}

// NoDICOMExport is the warning for a scan that did not come from DICOM.
const NoDICOMExport = "DICOM SEG and SR not written: DICOM export needs a DICOM source series, and this scan was read from a %s file (the markups and the label map were written)"

// NoDICOMSource is the warning for a scan whose source cannot be examined
// (gone since it was read, say) to see whether it is a DICOM series.
const NoDICOMSource = "DICOM SEG and SR not written: DICOM export needs a DICOM source series, and this scan's source cannot be examined: %v (the markups and the label map were written)"

// WriteExports writes a scan's findings for radiologists' tools into dir:
//
//   - <id>_findings.mrk.json: a 3D Slicer markups point list, one point per
//     candidate at its centre (LPS mm), labelled N<rank>, its description
//     the measurements and scores;
//   - <id>_labels.nii.gz: a uint8 label map on the scan's 1 mm grid (the
//     grid of <id>.nii.gz), voxel value = candidate rank (1 = first row of
//     candidates.csv), painted from each candidate's segmented lesion
//     (nodules[i], on its box grid; where two overlap the better-ranked
//     one keeps the voxel; a candidate with no segmentation has no
//     voxels);
//   - for a DICOM input, <id>_seg.dcm (DICOM Segmentation, one segment per
//     candidate on the source slices) and <id>_sr.dcm (Comprehensive 3D SR,
//     TID 1500, one measurement group per candidate, referencing the SEG),
//     both in the source study and referencing the source series.
//
// cs are the candidates in their file order and nodules their
// segmentations (nil entries allowed; a nil slice: none). Every file is
// written atomically.
func WriteExports(p *Preprocessed, cs []candidate.Candidate, nodules []*nodule.Result, dir string) (Exported, error) {
	var ex Exported
	n := len(cs)
	if n > MaxLabel {
		ex.Warnings = append(ex.Warnings, fmt.Sprintf("exports hold the first %d of %d candidates (a label is one byte)", MaxLabel, n))
		n = MaxLabel
	}
	fs := Findings(cs[:n])
	mrk, lab, seg, sr := ExportNames(p.ID)
	if err := export.WriteMarkups(filepath.Join(dir, mrk), fs); err != nil {
		return ex, err
	}
	labels, err := LabelMap(p.HU.Grid, nodules[:min(n, len(nodules))])
	if err != nil {
		return ex, fmt.Errorf("export %s: %w", p.ID, err)
	}
	if err := export.WriteLabelMap(filepath.Join(dir, lab), labels); err != nil {
		return ex, err
	}
	ex.Files = append(ex.Files, mrk, lab)
	// Without a DICOM source series the SEG and SR cannot be made; the
	// markups and the label map are written, so that is a warning, not a
	// failed export.
	kind, err := KindOf(p.Sidecar.Input)
	switch {
	case err != nil:
		ex.Warnings = append(ex.Warnings, fmt.Sprintf(NoDICOMSource, err))
		return ex, nil
	case kind != DICOMDir:
		ex.Warnings = append(ex.Warnings, fmt.Sprintf(NoDICOMExport, kindWord(p.Sidecar.Input)))
		return ex, nil
	}
	refs, err := export.SourceRefs(p.Sidecar.Input, dicomio.Options{SeriesUID: p.SeriesUID})
	if err != nil {
		return ex, err
	}
	opt := export.SROptions{}
	inst, err := export.WriteSEG(filepath.Join(dir, seg), refs, labels, fs)
	switch {
	case errors.Is(err, export.ErrEmpty):
		ex.Warnings = append(ex.Warnings, fmt.Sprintf("DICOM SEG not written: %v", err))
	case err != nil:
		return ex, err
	default:
		ex.Files = append(ex.Files, seg)
		opt.SEG = inst
		for _, r := range inst.EmptySegments {
			ex.Warnings = append(ex.Warnings, fmt.Sprintf("DICOM SEG: candidate %d's lesion falls between the source slices (its segment has no frame)", r))
		}
	}
	if _, err := export.WriteSR(filepath.Join(dir, sr), refs, fs, opt); err != nil {
		return ex, err
	}
	ex.Files = append(ex.Files, sr)
	return ex, nil
}

// kindWord names what a non-DICOM input is, for NoDICOMExport.
func kindWord(path string) string {
	l := strings.ToLower(path)
	switch {
	case strings.HasSuffix(l, ".nii"), strings.HasSuffix(l, ".nii.gz"):
		return "NIfTI"
	case strings.HasSuffix(l, ".mhd"), strings.HasSuffix(l, ".mha"):
		return "MetaImage"
	}
	return "non-DICOM"
}

// Findings turns candidates (in file order, rank = position + 1) into the
// exported findings: centre (LPS mm), measurements (mm, mm³; NaN when not
// measured), type, Lung-RADS, Brock, CNN and spiculation, and a
// description with the detection score and the scorer's malignancy.
func Findings(cs []candidate.Candidate) []export.Finding {
	fs := make([]export.Finding, len(cs))
	for i, c := range cs {
		f := export.Finding{Rank: i + 1, CentreLPS: c.World, Type: c.Type, LungRADS: c.LungRADS,
			Brock: prob(c.Brock), CNN: prob(c.CNN), Spiculation: math.NaN(), Lobulation: math.NaN(), PleuraDistanceMM: math.NaN(),
			LongAxisMM: math.NaN(), ShortAxisMM: math.NaN(), MeanDiameterMM: math.NaN(),
			VolumeMM3: math.NaN(), SolidDiameterMM: math.NaN()}
		if c.Type != "" {
			f.LongAxisMM, f.ShortAxisMM, f.MeanDiameterMM = c.LongAxisMM, c.ShortAxisMM, c.MeanDiameterMM
			f.VolumeMM3, f.Spiculation = c.VolumeMM3, prob(c.Spiculation)
			f.Lobulation = prob(c.Lobulation)
			if c.PleuraDistanceMM >= 0 {
				f.PleuraDistanceMM = c.PleuraDistanceMM
				f.PleuraBeyond = c.PleuraDistanceMM >= nodule.PleuraReachMM
			}
			if c.SolidDiameterMM > 0 {
				f.SolidDiameterMM = c.SolidDiameterMM
			}
		}
		desc := []string{fmt.Sprintf("detection score %.3f", c.DetectScore)}
		if c.LungRADS == "1" { // calcified: benign; the exporters know 2–4X
			f.LungRADS = ""
			desc = append(desc, "Lung-RADS 1 (calcified)")
		}
		if !math.IsNaN(c.Malignancy) {
			desc = append(desc, fmt.Sprintf("malignancy %.3f", c.Malignancy))
		}
		f.Description = strings.Join(desc, ", ")
		fs[i] = f
	}
	return fs
}

// prob is p when it is a probability, NaN otherwise.
func prob(p float64) float64 {
	if p >= 0 && p <= 1 {
		return p
	}
	return math.NaN()
}

// LabelMap paints the segmented lesions onto a uint8 volume on grid g (the
// scan's 1 mm grid): voxel value = rank (nodules[i] has rank i+1), 0
// elsewhere; where lesions overlap the better (lower) rank wins. Each
// lesion's Mask lies on its Box, a sub-grid of g starting at BoxOrigin;
// parts of a box outside g are skipped, and a box whose spacing differs
// from g's is an error.
func LabelMap(g volume.Grid, nodules []*nodule.Result) (*volume.Volume[uint8], error) {
	if len(nodules) > MaxLabel {
		return nil, fmt.Errorf("label map: %d lesions, at most %d fit a uint8 label", len(nodules), MaxLabel)
	}
	v := volume.New[uint8](g)
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	for i, r := range nodules {
		if r == nil || len(r.Mask) != r.Box.Len() {
			continue
		}
		for a := 0; a < 3; a++ {
			if math.Abs(r.Box.Spacing[a]-g.Spacing[a]) > 1e-6 {
				return nil, fmt.Errorf("label map: lesion %d's box spacing %v mm differs from the grid's %v mm", i+1, r.Box.Spacing, g.Spacing)
			}
		}
		label := uint8(i + 1)
		bx, by, bz := r.Box.Dims[0], r.Box.Dims[1], r.Box.Dims[2]
		o := r.BoxOrigin
		for k := 0; k < bz; k++ {
			z := o[2] + k
			for j := 0; j < by; j++ {
				y := o[1] + j
				if z < 0 || z >= nz || y < 0 || y >= ny {
					continue
				}
				row := r.Mask[(k*by+j)*bx : (k*by+j+1)*bx]
				dst := v.Data[(z*ny+y)*nx : (z*ny+y+1)*nx]
				for ii, m := range row {
					x := o[0] + ii
					if m != 0 && x >= 0 && x < nx && dst[x] == 0 {
						dst[x] = label
					}
				}
			}
		}
	}
	return v, nil
}
