package lidc

import (
	"fmt"
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/volume"
)

// TextureClass is the LIDC texture rating folded into three classes.
type TextureClass int

const (
	TextureUnknown TextureClass = iota // no reader rated texture
	NonSolid                           // ratings 1–2 (non-solid / ground glass)
	PartSolid                          // ratings 3–4 (part-solid / mixed)
	Solid                              // rating 5
)

// String names the class ("non-solid", "part-solid", "solid", "unknown").
func (t TextureClass) String() string {
	switch t {
	case NonSolid:
		return "non-solid"
	case PartSolid:
		return "part-solid"
	case Solid:
		return "solid"
	}
	return "unknown"
}

// TextureOf folds a texture rating (or a median of ratings) into a class:
// below 2.5 non-solid, below 4.5 part-solid, up to 5 solid; ≤ 0, NaN or
// above 5 unknown.
func TextureOf(rating float64) TextureClass {
	switch {
	case !(rating >= 1 && rating <= 5):
		return TextureUnknown
	case rating < 2.5:
		return NonSolid
	case rating < 4.5:
		return PartSolid
	}
	return Solid
}

// ReaderMark is one reader's annotation of a physical nodule.
type ReaderMark struct {
	Annotation int // index into Result.Annotations
	Session    int
	Reader     string
	Ratings    Ratings
	DiameterMM float64 // the annotation's pylidc diameter, mm
	VolumeMM3  float64 // the annotation's mask volume, mm³
}

// Nodule is one physical nodule ≥ 3 mm: the readers' annotations grouped
// (see ClusterOptions) and their consensus, the compact form lungctl eval
// uses.
type Nodule struct {
	// Readers lists the grouped annotations, one per reader unless the
	// grouping failed (Result.Warnings says so).
	Readers []ReaderMark
	// NumReaders is the number of distinct reading sessions in Readers.
	NumReaders int
	// Mask is the consensus: the voxels marked by at least ConsensusLevel
	// (0.5) of the grouped annotations (pylidc's consensus(clevel=0.5):
	// mean of the masks ≥ level), cropped to its own bounding box.
	Mask Mask
	// Voxels and VolumeMM3 (mm³) measure Mask on the source grid.
	Voxels    int
	VolumeMM3 float64
	// EquivDiameterMM is the diameter (mm) of the sphere of volume
	// VolumeMM3: (6·V/π)^(1/3).
	EquivDiameterMM float64
	// Centroid is the mean position of the consensus voxels' centres, LPS
	// mm; when the consensus is empty, the mean of the readers' centroids.
	Centroid volume.Vec3
	// MeanDiameterMM is the mean of the readers' pylidc diameters (mm).
	MeanDiameterMM float64
	// MeanRatings and MedianRatings summarise each rating over the readers
	// who gave it (NaN when none did).
	MeanRatings, MedianRatings [NumRatings]float64
	// Texture is TextureOf(MedianRatings[Texture]).
	Texture TextureClass
	// Calcified is true when at least half of the readers who rated
	// calcification gave 1–5 (LIDC: 1 popcorn … 5 central; 6 absent).
	Calcified bool
}

// consensus builds the Nodule of one group of annotations. reserve takes
// bytes from the memory budget before they are allocated (what names
// them); the consensus mask's reservation is kept, the union box's released.
func (q *geom) consensus(anns []Annotation, grp []int, level float64, reserve func(bytes uint64, what string) (func(), error)) (Nodule, error) {
	var nd Nodule
	sessions := map[int]bool{}
	lo := [3]int{math.MaxInt, math.MaxInt, math.MaxInt}
	hi := [3]int{math.MinInt, math.MinInt, math.MinInt}
	var meanC volume.Vec3
	for _, i := range grp {
		a := &anns[i]
		nd.Readers = append(nd.Readers, ReaderMark{Annotation: i, Session: a.Session, Reader: a.Reader,
			Ratings: a.Ratings, DiameterMM: a.DiameterMM, VolumeMM3: a.VolumeMM3})
		sessions[a.Session] = true
		nd.MeanDiameterMM += a.DiameterMM / float64(len(grp))
		for r := 0; r < 3; r++ {
			lo[r] = min(lo[r], a.Mask.Origin[r])
			hi[r] = max(hi[r], a.Mask.Origin[r]+a.Mask.Dims[r]-1)
			meanC[r] += a.Centroid[r] / float64(len(grp))
		}
	}
	nd.NumReaders = len(sessions)

	boxVoxels := membudget.Mul(int64(hi[0]-lo[0]+1), int64(hi[1]-lo[1]+1), int64(hi[2]-lo[2]+1))
	release, err := reserve(3*boxVoxels, fmt.Sprintf("%d readers' masks counted on a %d×%d×%d box", len(grp), hi[0]-lo[0]+1, hi[1]-lo[1]+1, hi[2]-lo[2]+1))
	if err != nil {
		return nd, err
	}
	box := newMask(lo, hi)
	count := make([]uint16, len(box.Data))
	for _, i := range grp {
		m := &anns[i].Mask
		for k := 0; k < m.Dims[2]; k++ {
			for j := 0; j < m.Dims[1]; j++ {
				src := m.Data[m.Dims[0]*(j+m.Dims[1]*k):][:m.Dims[0]]
				off := (m.Origin[0] - lo[0]) + box.Dims[0]*((m.Origin[1]-lo[1]+j)+box.Dims[1]*(m.Origin[2]-lo[2]+k))
				dst := count[off:][:m.Dims[0]]
				for x, v := range src {
					if v != 0 && dst[x] < math.MaxUint16 {
						dst[x]++
					}
				}
			}
		}
	}
	need := level*float64(len(grp)) - 1e-9
	for n, c := range count {
		if c > 0 && float64(c) >= need {
			box.Data[n] = 1
		}
	}
	clo, chi, set := box.bounds()
	if set {
		if _, err := reserve(membudget.Mul(int64(chi[0]-clo[0]+1), int64(chi[1]-clo[1]+1), int64(chi[2]-clo[2]+1)), "consensus mask"); err != nil {
			return nd, err
		}
	}
	nd.Mask = box.cropTo(clo, chi, set)
	box = Mask{}
	release()
	nd.Voxels = nd.Mask.Count()
	nd.VolumeMM3 = float64(nd.Voxels) * q.voxel
	nd.EquivDiameterMM = math.Cbrt(6 * nd.VolumeMM3 / math.Pi)
	if nd.Voxels > 0 {
		nd.Centroid = q.maskCentroid(&nd.Mask)
	} else {
		nd.Centroid = meanC
	}

	for r := Rating(0); r < NumRatings; r++ {
		var v []float64
		for _, rm := range nd.Readers {
			if x := rm.Ratings[r]; x != 0 {
				v = append(v, float64(x))
			}
		}
		nd.MeanRatings[r], nd.MedianRatings[r] = meanMedian(v)
	}
	nd.Texture = TextureOf(nd.MedianRatings[Texture])
	rated, calc := 0, 0
	for _, rm := range nd.Readers {
		if c := rm.Ratings[Calcification]; c != 0 {
			rated++
			if c >= 1 && c <= 5 {
				calc++
			}
		}
	}
	nd.Calcified = rated > 0 && 2*calc >= rated
	return nd, nil
}

func meanMedian(v []float64) (mean, median float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	sort.Float64s(v)
	for _, x := range v {
		mean += x / float64(len(v))
	}
	if n := len(v); n%2 == 1 {
		median = v[n/2]
	} else {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	return mean, median
}
