// Package lidc reads the LIDC-IDRI readers' XML (LidcReadMessage) and turns
// it into per-reader nodule masks, measurements and a 50 % consensus per
// physical nodule, the way pylidc does, on the geometry of the source CT
// series.
//
// Units and frames, relied on by every exported value:
//   - Everything measured is in DICOM LPS world millimetres (the frame of
//     package volume and of LUNA16's coordX/Y/Z): centroids in mm, lengths
//     and diameters in mm, volumes in mm³.
//   - Masks are uint8 (0/1) boxes on the voxel grid of the source series:
//     voxel (i, j, k) is pixel column xCoord = i and row yCoord = j of slice
//     k, slices in ascending position as package dicomio stacks them. A
//     Mask records the voxel index of its first element (Mask.Origin).
//   - The XML itself holds pixel indices (xCoord, yCoord) and a slice's
//     imageZposition (the z of its ImagePositionPatient, mm) and SOP UID;
//     Point and ROI keep those raw values.
//
// The package reads no DICOM: callers describe the source series with a
// Geometry (a volume.Grid and, when known, the true slice positions and SOP
// Instance UIDs), e.g. from dicomio.Load.
//
// Rules, in brief (each function's comment has the detail):
//   - Nodule ≥ 3 mm: an unblindedReadNodule with at least one ROI of two or
//     more edge points (its contours). Nodule < 3 mm: the other
//     unblindedReadNodules (LIDC marks them with one point). Non-nodule: a
//     nonNodule element (one locus point).
//   - Mask filling follows pylidc's Annotation.boolean_mask with its default
//     include_contour_points=False: a pixel is inside when its centre is
//     inside an inclusion contour (even–odd rule) and not on that contour's
//     outline; exclusion (inclusion=FALSE) contours remove their inside and
//     their outline. See FillRule.
//   - Diameter and centroid of a reader's nodule are pylidc's diameter
//     (largest in-plane distance between two points of one contour) and
//     centroid (mean of all contour points), both in LPS mm.
//   - Readers' nodules are grouped into physical nodules like pylidc's
//     cluster_annotations; consensus is pylidc's consensus(clevel=0.5).
package lidc

import (
	"errors"
	"strconv"
)

// Sentinel errors; returned errors wrap one of them (or an I/O or XML
// error) and name the file.
var (
	// ErrNotLIDC means the XML root is not LidcReadMessage.
	ErrNotLIDC = errors.New("not an LIDC read message")
	// ErrTooLarge means the file or one of its lists exceeds a Max* bound.
	ErrTooLarge = errors.New("LIDC XML exceeds a size bound")
	// ErrMalformed means a value could not be read (a coordinate that is not
	// an integer, a z that is not a number, ...).
	ErrMalformed = errors.New("malformed LIDC XML")
	// ErrGeometry means the Geometry cannot place the XML's slices.
	ErrGeometry = errors.New("unusable series geometry for LIDC XML")
	// ErrNoXML means FindXML found no matching XML beside a series.
	ErrNoXML = errors.New("no LIDC XML found")
	// ErrAmbiguousXML means FindXML found more than one matching XML.
	ErrAmbiguousXML = errors.New("more than one LIDC XML matches")
)

// Bounds on what Parse accepts; a file beyond them fails with ErrTooLarge
// rather than exhausting memory. The largest LIDC-IDRI XML files are a few
// MB with well under 10^5 edge points, so the bounds only stop hostile input.
const (
	// MaxFileBytes is the largest XML file Parse reads (64 MiB).
	MaxFileBytes = 64 << 20
	// MaxROIs bounds the number of roi elements in a file.
	MaxROIs = 1 << 16
	// MaxPointsPerROI bounds the edgeMap points of one roi.
	MaxPointsPerROI = 1 << 16
	// MaxPoints bounds the edgeMap points of a file (all rois together).
	MaxPoints = 1 << 21
	// MaxMarks bounds the nodule and non-nodule marks of a file.
	MaxMarks = 1 << 16
	// MaxTextBytes bounds one element's text (UIDs, IDs, numbers).
	MaxTextBytes = 4096
	// MaxDepth bounds element nesting.
	MaxDepth = 64
	// MaxCoord bounds |xCoord|, |yCoord| as read; points must further lie
	// inside the slice to be used (see Analyze).
	MaxCoord = 1 << 20
	// MaxAnnotations bounds the readers' nodules ≥ 3 mm Analyze places in
	// one file (LIDC scans have at most a few dozen).
	MaxAnnotations = 1024
	// MaxMaskVoxels bounds the voxels of all annotation mask boxes of one
	// file together (256 Mi; a large LIDC nodule's box is under 10^6).
	MaxMaskVoxels = 1 << 28
)

// Rating indexes a reader's characteristics ratings.
type Rating int

// The nine LIDC characteristics, in the XML's order.
const (
	Subtlety          Rating = iota // 1 extremely subtle … 5 obvious
	InternalStructure               // 1 soft tissue, 2 fluid, 3 fat, 4 air
	Calcification                   // 1 popcorn … 5 central, 6 absent
	Sphericity                      // 1 linear … 5 round
	Margin                          // 1 poorly defined … 5 sharp
	Lobulation                      // 1 none … 5 marked
	Spiculation                     // 1 none … 5 marked
	Texture                         // 1 non-solid/GGO … 5 solid
	Malignancy                      // 1 highly unlikely … 5 highly suspicious
	NumRatings                      // number of ratings
)

var ratingNames = [NumRatings]string{"subtlety", "internalStructure", "calcification",
	"sphericity", "margin", "lobulation", "spiculation", "texture", "malignancy"}

// String returns the rating's XML element name (e.g. "malignancy").
func (r Rating) String() string {
	if r >= 0 && r < NumRatings {
		return ratingNames[r]
	}
	return "Rating(" + strconv.Itoa(int(r)) + ")"
}

// Ratings holds one reader's characteristics, indexed by Rating; 0 means
// the reader gave no value (absent element, empty text or 0 in the XML).
type Ratings [NumRatings]int

// Complete reports whether all nine ratings are present (non-zero), which
// is pylidc's condition for a nodule ≥ 3 mm annotation.
func (r Ratings) Complete() bool {
	for _, v := range r {
		if v == 0 {
			return false
		}
	}
	return true
}

// Point is one edgeMap or locus point: pixel column X (xCoord) and row Y
// (yCoord), 0-based pixel indices of the slice, as in the XML.
type Point struct{ X, Y int }

// ROI is one roi element: a contour on one slice.
type ROI struct {
	// Z is imageZposition: the z (LPS, mm) of the slice's
	// ImagePositionPatient. HasZ is false when it is absent or empty.
	Z    float64
	HasZ bool
	// SOPUID is imageSOP_UID, "" when absent.
	SOPUID string
	// Inclusion is false for inclusion=FALSE (a hole to subtract); absent or
	// any other text reads as TRUE.
	Inclusion bool
	// Points are the edgeMap points in file order (a closed outline; the
	// first point is usually repeated at the end).
	Points []Point
}

// ReaderNodule is one unblindedReadNodule of one reader.
type ReaderNodule struct {
	ID string // noduleID
	// Ratings are the characteristics (zeros when absent: nodules < 3 mm
	// usually carry none).
	Ratings Ratings
	ROIs    []ROI
}

// Large reports whether the mark is a nodule ≥ 3 mm: at least one ROI has
// two or more edge points (LIDC marks nodules < 3 mm with a single point).
// pylidc additionally requires complete ratings (Ratings.Complete).
func (n *ReaderNodule) Large() bool {
	for _, r := range n.ROIs {
		if len(r.Points) >= 2 {
			return true
		}
	}
	return false
}

// NonNodule is one nonNodule element: a single locus point.
type NonNodule struct {
	ID     string // nonNoduleID
	Z      float64
	HasZ   bool
	SOPUID string
	// Point is the locus; HasPoint is false when the locus is absent or
	// incomplete.
	Point    Point
	HasPoint bool
}

// Session is one readingSession: one reader's marks.
type Session struct {
	ReaderID          string // servicingRadiologistID (anonymised)
	AnnotationVersion string
	Nodules           []ReaderNodule // unblindedReadNodule, ≥ 3 mm and < 3 mm
	NonNodules        []NonNodule
}

// Message is a parsed LidcReadMessage.
type Message struct {
	// File is the name given to Parse (the path for ParseFile).
	File string
	// UID is the root element's uid attribute.
	UID string
	// SeriesUID and StudyUID come from ResponseHeader (SeriesInstanceUid,
	// StudyInstanceUID); "" when absent.
	SeriesUID string
	StudyUID  string
	Sessions  []Session
}
