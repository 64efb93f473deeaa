package candidate

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// FuzzRead: any bytes given as a candidates CSV either parse, with finite
// coordinates, and write back to a CSV that reads to the same candidates,
// or fail with an error naming the file; never a panic.
func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	c := Candidate{SeriesUID: "1.2.3", World: [3]float64{56.21, 86.34, -115.87}, Probability: 0.9, DiameterMM: 23.4,
		Voxels: 6000, Malignancy: math.NaN(), Type: "solid", LongAxisMM: 27.2, ShortAxisMM: 25.9, MeanDiameterMM: 26.6,
		VolumeMM3: 6032, Spiculation: 0.91, Brock: 0.48, CNN: math.NaN(), LungRADS: "4X", Lobulation: 0.34}
	if err := Write(&b, []Candidate{c}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("seriesuid,coordX,coordY,coordZ,class\n1.3.6,-56.08,-67.85,-311.92,0\n"))
	f.Add([]byte("seriesuid,coordX,coordY,coordZ,voxels\na,1,2,3,1e300\n"))
	f.Add([]byte("seriesuid,coordX,coordY,coordZ\na,NaN,2,3\n\"b,1,2,3\n"))
	f.Add([]byte("\xef\xbb\xbfseriesuid;coordX\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := Read(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, c := range cs {
			for _, v := range c.World {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite coordinate accepted: %v", c.World)
				}
			}
		}
		var out bytes.Buffer
		if err := Write(&out, cs); err != nil {
			if errors.Is(err, errors.ErrUnsupported) {
				return
			}
			t.Fatalf("write back: %v", err)
		}
		back, err := Read(&out, "back.csv")
		if err != nil {
			t.Fatalf("read back: %v\n%s", err, out.String())
		}
		if len(back) != len(cs) {
			t.Fatalf("read back %d candidates, want %d", len(back), len(cs))
		}
	})
}
