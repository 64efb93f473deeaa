package candidate

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := []Candidate{{SeriesUID: "1.2.3", World: [3]float64{56.21, 86.34, -115.87}, Probability: 0.9,
		DiameterMM: 23.35, Voxels: 6000, MeanHU: -50.5, MeanSI: 0.91, Compactness: 0.8, DetectScore: 0.9,
		Malignancy: math.NaN()}}
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "seriesuid,coordX,coordY,coordZ,probability,") {
		t.Fatalf("header: %q", b.String())
	}
	out, err := Read(&b, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].SeriesUID != "1.2.3" || out[0].World != in[0].World || out[0].Voxels != 6000 ||
		!math.IsNaN(out[0].Malignancy) || out[0].MeanSI != 0.91 {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestReadLUNA16AndErrors(t *testing.T) {
	luna := "seriesuid,coordX,coordY,coordZ,class\n1.3.6,-56.08,-67.85,-311.92,0\n"
	cs, err := Read(strings.NewReader(luna), "candidates.csv")
	if err != nil || len(cs) != 1 || cs[0].World[2] != -311.92 {
		t.Fatalf("%v %+v", err, cs)
	}
	_, err = Read(strings.NewReader("seriesuid,coordX,coordY\n"), "bad.csv")
	if err == nil || !strings.Contains(err.Error(), "bad.csv") || !strings.Contains(err.Error(), "coordZ") {
		t.Fatalf("want error naming file and column, got %v", err)
	}
	_, err = Read(strings.NewReader("seriesuid,coordX,coordY,coordZ\na,1,x,3\n"), "bad.csv")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want line error, got %v", err)
	}
}
