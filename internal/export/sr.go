package export

import (
	"fmt"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/lungctl/lungctl/internal/dicomio"
)

// SROptions tunes WriteSR.
type SROptions struct {
	// SEG is the segmentation WriteSEG wrote for the same findings, or nil.
	// When set, each measurement group reuses its segment's Tracking UID
	// (so SEG and SR name a finding alike) and the SEG is listed in the
	// Pertinent Other Evidence Sequence.
	SEG *Instance
	// SeriesNumber of the new SR series; 0 means SRSeriesNumber.
	SeriesNumber int
	// SeriesDescription of the new series; "" means "lungctl nodule report".
	SeriesDescription string
}

// Codes of the SR content tree (PS3.16: TID 1500, 1204, 1001/1002/1004,
// 1410, 4019 and 300; CID 7470 linear and volume measurements).
var (
	codeReport          = Code{"126000", "DCM", "Imaging Measurement Report"}
	codeLanguage        = Code{"121049", "DCM", "Language of Content Item and Descendants"}
	codeEnglishUS       = Code{"en-US", "RFC5646", "English (United States)"}
	codeObserverType    = Code{"121005", "DCM", "Observer Type"}
	codeDevice          = Code{"121007", "DCM", "Device"}
	codeDeviceUID       = Code{"121012", "DCM", "Device Observer UID"}
	codeDeviceName      = Code{"121013", "DCM", "Device Observer Name"}
	codeDeviceMaker     = Code{"121014", "DCM", "Device Observer Manufacturer"}
	codeDeviceModel     = Code{"121015", "DCM", "Device Observer Model Name"}
	codeProcReported    = Code{"121058", "DCM", "Procedure reported"}
	codeCTChest         = Code{"169069000", "SCT", "CT of chest"}
	codeImagingMeas     = Code{"126010", "DCM", "Imaging Measurements"}
	codeMeasGroup       = Code{"125007", "DCM", "Measurement Group"}
	codeTrackingID      = Code{"112039", "DCM", "Tracking Identifier"}
	codeTrackingUID     = Code{"112040", "DCM", "Tracking Unique Identifier"}
	codeFinding         = Code{"121071", "DCM", "Finding"}
	codeFindingSite     = Code{"363698007", "SCT", "Finding Site"}
	codeAlgorithmName   = Code{"111001", "DCM", "Algorithm Name"}
	codeAlgorithmVer    = Code{"111003", "DCM", "Algorithm Version"}
	codeImageRegion     = Code{"111030", "DCM", "Image Region"}
	codeLongAxis        = Code{"103339001", "SCT", "Long Axis"}
	codeShortAxis       = Code{"103340004", "SCT", "Short Axis"}
	codeDiameter        = Code{"81827009", "SCT", "Diameter"}
	codeVolume          = Code{"118565006", "SCT", "Volume"}
	codeDerivation      = Code{"121401", "DCM", "Derivation"}
	codeMean            = Code{"373098007", "SCT", "Mean"}
	codeQualitative     = Code{"C0034375", "UMLS", "Qualitative Evaluations"}
	codeUnitMM          = Code{"mm", "UCUM", "millimeter"}
	codeUnitMM3         = Code{"mm3", "UCUM", "cubic millimeter"}
	relContains         = "CONTAINS"
	relConceptMod       = "HAS CONCEPT MOD"
	relObsContext       = "HAS OBS CONTEXT"
	continuitySeparate  = "SEPARATE"
	templateReport      = "1500"
	templatePlanarGroup = "1410"
)

// srItem is one SR content item: its relationship to the parent, value
// type, concept name, value, template and children.
type srItem struct {
	rel, vt  string
	name     Code
	text     string    // TEXT value or UIDREF UID
	coded    Code      // CODE value
	num      float64   // NUM value
	unit     Code      // NUM unit
	point    []float64 // SCOORD3D POINT (x, y, z) LPS mm
	forUID   string    // SCOORD3D frame of reference
	template string    // CONTAINER template identifier (DCMR)
	children []*srItem
}

func container(rel string, name Code, tid string, children ...*srItem) *srItem {
	return &srItem{rel: rel, vt: "CONTAINER", name: name, template: tid, children: children}
}

func textItem(rel string, name Code, v string) *srItem {
	return &srItem{rel: rel, vt: "TEXT", name: name, text: v}
}

func codeItem(rel string, name, v Code) *srItem {
	return &srItem{rel: rel, vt: "CODE", name: name, coded: v}
}

func uidItem(rel string, name Code, uid string) *srItem {
	return &srItem{rel: rel, vt: "UIDREF", name: name, text: uid}
}

func numItem(name Code, v float64, unit Code, children ...*srItem) *srItem {
	return &srItem{rel: relContains, vt: "NUM", name: name, num: v, unit: unit, children: children}
}

// elements returns the item's attributes (the root's too: root has no
// relationship type).
func (it *srItem) elements(b *builder) []*dicom.Element {
	es := []*dicom.Element{
		b.s(tag.ValueType, it.vt),
		b.code(tag.ConceptNameCodeSequence, it.name),
	}
	if it.rel != "" {
		es = append(es, b.s(tag.RelationshipType, it.rel))
	}
	switch it.vt {
	case "CONTAINER":
		es = append(es, b.s(tag.ContinuityOfContent, continuitySeparate))
		if it.template != "" {
			es = append(es, b.seq(tag.ContentTemplateSequence, []*dicom.Element{
				b.s(tag.MappingResource, "DCMR"),
				b.s(tag.TemplateIdentifier, it.template),
			}))
		}
	case "TEXT":
		es = append(es, b.s(tag.TextValue, it.text))
	case "UIDREF":
		es = append(es, b.s(tag.UID, it.text))
	case "CODE":
		es = append(es, b.code(tag.ConceptCodeSequence, it.coded))
	case "NUM":
		es = append(es, b.seq(tag.MeasuredValueSequence, []*dicom.Element{
			b.s(tag.NumericValue, formatDS(it.num)),
			b.el(tag.FloatingPointValue, []float64{it.num}),
			b.code(tag.MeasurementUnitsCodeSequence, it.unit),
		}))
	case "SCOORD3D":
		es = append(es,
			b.s(tag.GraphicType, "POINT"),
			b.el(tag.GraphicData, it.point),
			b.s(tag.ReferencedFrameOfReferenceUID, it.forUID))
	}
	if len(it.children) > 0 {
		items := make([][]*dicom.Element, len(it.children))
		for i, c := range it.children {
			items[i] = c.elements(b)
		}
		es = append(es, b.seq(tag.ContentSequence, items...))
	}
	return es
}

// measurementGroup builds a finding's TID 1410-style group: tracking
// identifier and UID, Finding = Nodule, Finding Site = Lung, the algorithm,
// the centre as an image-independent SCOORD3D POINT (LPS mm) in the source
// frame of reference, the known measurements as NUM items (mm, mm3) and the
// qualitative evaluations as TEXT items.
func measurementGroup(f *Finding, trackingUID, forUID string) *srItem {
	g := container(relContains, codeMeasGroup, templatePlanarGroup,
		textItem(relContains, codeTrackingID, clip(f.label(), 64)),
		uidItem(relContains, codeTrackingUID, trackingUID),
		codeItem(relContains, codeFinding, codeNodule),
		codeItem(relConceptMod, codeFindingSite, codeLung),
		textItem(relConceptMod, codeAlgorithmName, manufacturer),
		textItem(relConceptMod, codeAlgorithmVer, clip(version(), 64)),
		&srItem{rel: relContains, vt: "SCOORD3D", name: codeImageRegion, point: f.CentreLPS[:], forUID: forUID},
	)
	if known(f.LongAxisMM) {
		g.children = append(g.children, numItem(codeLongAxis, f.LongAxisMM, codeUnitMM))
	}
	if known(f.ShortAxisMM) {
		g.children = append(g.children, numItem(codeShortAxis, f.ShortAxisMM, codeUnitMM))
	}
	if known(f.MeanDiameterMM) {
		g.children = append(g.children, numItem(codeDiameter, f.MeanDiameterMM, codeUnitMM,
			codeItem(relConceptMod, codeDerivation, codeMean)))
	}
	if known(f.VolumeMM3) {
		g.children = append(g.children, numItem(codeVolume, f.VolumeMM3, codeUnitMM3))
	}
	for _, q := range qualitative(f) {
		g.children = append(g.children, textItem(relContains, codeQualitative, q))
	}
	return g
}

// qualitative returns a finding's qualitative evaluations as "name: value"
// strings, in a fixed order, omitting unknowns. They are TEXT items, not
// CODE items: PS3.16 has no context group for a nodule type or a Lung-RADS
// category lungctl could cite, and inventing private codes would make them
// less, not more, interoperable; TID 1410 (like 1501) allows free-text
// "Qualitative Evaluations" (C0034375, UMLS).
func qualitative(f *Finding) []string {
	var out []string
	if f.Type != "" {
		out = append(out, "Nodule type: "+f.Type)
	}
	if f.LungRADS != "" {
		out = append(out, "Lung-RADS category: "+f.LungRADS)
	}
	if known(f.SolidDiameterMM) {
		out = append(out, fmt.Sprintf("Solid component mean diameter: %.1f mm", f.SolidDiameterMM))
	}
	if known(f.Brock) {
		out = append(out, fmt.Sprintf("Brock malignancy probability: %.2f", f.Brock))
	}
	if known(f.CNN) {
		out = append(out, fmt.Sprintf("CNN malignancy score: %.2f", f.CNN))
	}
	if known(f.Spiculation) {
		out = append(out, fmt.Sprintf("Spiculation score: %.2f", f.Spiculation))
	}
	if known(f.Lobulation) {
		out = append(out, fmt.Sprintf("Lobulation score: %.2f", f.Lobulation))
	}
	if known(f.PleuraDistanceMM) {
		at := ""
		if f.PleuraBeyond {
			at = "at least "
		}
		out = append(out, fmt.Sprintf("Distance to pleura: %s%.1f mm", at, f.PleuraDistanceMM))
	}
	if d := clip(f.Description, 10240); d != "" {
		out = append(out, "Comment: "+d)
	}
	return out
}

// WriteSR writes the findings as a DICOM Comprehensive 3D SR (Explicit VR
// Little Endian) into the source study: a TID 1500 "Imaging Measurement
// Report" (126000, DCM) with language en-US, a device observer context
// (lungctl), procedure reported "CT of chest", and an "Imaging
// Measurements" container holding one TID 1410-style "Measurement Group"
// per finding (see measurementGroup): the centre is an SCOORD3D POINT in the
// source Frame of Reference (LPS mm); long axis, short axis and mean
// diameter are NUM items in mm (UCUM "mm"), the volume in mm³ (UCUM "mm3");
// unknown (NaN) values are omitted. Every source slice is listed in the
// Current Requested Procedure Evidence Sequence; opt.SEG, when given, in the
// Pertinent Other Evidence Sequence. A nil or empty src is
// ErrNoDICOMSource. The file is written atomically.
func WriteSR(path string, src *dicomio.SeriesRefs, findings []Finding, opt SROptions) (*Instance, error) {
	if err := checkSource(path, src, false); err != nil {
		return nil, err
	}
	if _, err := checkFindings(findings); err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	if opt.SEG != nil && opt.SEG.StudyInstanceUID != src.StudyInstanceUID {
		return nil, fmt.Errorf("export: %s: %w: the SEG is in study %s, the source in %s", path, ErrNoDICOMSource, opt.SEG.StudyInstanceUID, src.StudyInstanceUID)
	}
	inst := &Instance{Path: path, SOPClassUID: Comprehensive3DSRStorage, SOPInstanceUID: newUID(),
		SeriesInstanceUID: newUID(), StudyInstanceUID: src.StudyInstanceUID, TrackingUIDs: map[int]string{}}
	groups := make([]*srItem, 0, len(findings))
	for i := range findings {
		f := &findings[i]
		uid := ""
		if opt.SEG != nil {
			uid = opt.SEG.TrackingUIDs[f.Rank]
		}
		if uid == "" {
			uid = newUID()
		}
		inst.TrackingUIDs[f.Rank] = uid
		groups = append(groups, measurementGroup(f, uid, src.FrameOfReferenceUID))
	}
	root := container("", codeReport, templateReport,
		codeItem(relConceptMod, codeLanguage, codeEnglishUS),
		codeItem(relObsContext, codeObserverType, codeDevice),
		uidItem(relObsContext, codeDeviceUID, deviceObserverUID),
		textItem(relObsContext, codeDeviceName, manufacturer),
		textItem(relObsContext, codeDeviceMaker, manufacturer),
		textItem(relObsContext, codeDeviceModel, manufacturer),
		codeItem(relConceptMod, codeProcReported, codeCTChest),
		container(relContains, codeImagingMeas, "", groups...),
	)
	es, err := srDataset(src, root, inst, opt, time.Now())
	if err == nil {
		err = writeDICOM(path, es, inst.SOPClassUID, inst.SOPInstanceUID)
	}
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	return inst, nil
}

// srDataset builds the SR's data set (without file meta information).
func srDataset(src *dicomio.SeriesRefs, root *srItem, inst *Instance, opt SROptions, now time.Time) ([]*dicom.Element, error) {
	var b builder
	es := b.commonModules(src, inst.SOPClassUID, inst.SOPInstanceUID, now)
	series := opt.SeriesNumber
	if series == 0 {
		series = SRSeriesNumber
	}
	desc := opt.SeriesDescription
	if desc == "" {
		desc = "lungctl nodule report"
	}
	refs := make([][]*dicom.Element, 0, len(src.Slices))
	seen := map[string]bool{}
	for _, sl := range src.Slices {
		if !seen[sl.SOPInstanceUID] {
			seen[sl.SOPInstanceUID] = true
			refs = append(refs, []*dicom.Element{
				b.s(tag.ReferencedSOPClassUID, sl.SOPClassUID),
				b.s(tag.ReferencedSOPInstanceUID, sl.SOPInstanceUID),
			})
		}
	}
	evidence := func(seriesUID string, refs ...[]*dicom.Element) *dicom.Element {
		return b.seq(tag.ReferencedSeriesSequence, []*dicom.Element{
			b.s(tag.SeriesInstanceUID, seriesUID),
			b.seq(tag.ReferencedSOPSequence, refs...),
		})
	}
	es = append(es,
		// SR Document Series module.
		b.s(tag.Modality, "SR"),
		b.s(tag.SeriesInstanceUID, inst.SeriesInstanceUID),
		b.s(tag.SeriesNumber, fmt.Sprint(series)),
		b.s(tag.SeriesDescription, clip(desc, 64)),
		b.seq(tag.ReferencedPerformedProcedureStepSequence),
		// SR Document General module.
		b.s(tag.CompletionFlag, "COMPLETE"),
		b.s(tag.VerificationFlag, "UNVERIFIED"),
		b.seq(tag.PerformedProcedureCodeSequence),
		b.seq(tag.CurrentRequestedProcedureEvidenceSequence, []*dicom.Element{
			b.s(tag.StudyInstanceUID, src.StudyInstanceUID),
			evidence(src.SeriesInstanceUID, refs...),
		}),
	)
	if opt.SEG != nil {
		es = append(es, b.seq(tag.PertinentOtherEvidenceSequence, []*dicom.Element{
			b.s(tag.StudyInstanceUID, opt.SEG.StudyInstanceUID),
			evidence(opt.SEG.SeriesInstanceUID, []*dicom.Element{
				b.s(tag.ReferencedSOPClassUID, opt.SEG.SOPClassUID),
				b.s(tag.ReferencedSOPInstanceUID, opt.SEG.SOPInstanceUID),
			}),
		}))
	}
	// SR Document Content module: the root content item's attributes.
	es = append(es, root.elements(&b)...)
	return es, b.err
}
