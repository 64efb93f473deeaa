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

// The characterisation columns round-trip, and an unmeasured candidate
// leaves them empty rather than writing zeros.
func TestMeasurementColumns(t *testing.T) {
	in := []Candidate{
		{SeriesUID: "s", World: [3]float64{1, 2, 3}, Malignancy: 0.3, Type: "part-solid", LongAxisMM: 14.2,
			ShortAxisMM: 10.1, MeanDiameterMM: 12.15, VolumeMM3: 905, SolidDiameterMM: 5.5, Spiculation: 0.25,
			UpperZone: true, Brock: 0.123456, CNN: math.NaN(), LungRADS: "4A", Lobulation: 0.4321, PleuraDistanceMM: 3.25},
		{SeriesUID: "s", World: [3]float64{4, 5, 6}, Malignancy: math.NaN(), Brock: math.NaN(), CNN: math.NaN()},
	}
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if !strings.HasSuffix(lines[0], ",type,long_axis_mm,short_axis_mm,mean_diameter_mm,volume_mm3,solid_diameter_mm,spiculation,upper_zone,brock,cnn,lung_rads,lobulation,pleura_distance_mm") {
		t.Errorf("header %q", lines[0])
	}
	if !strings.HasSuffix(lines[1], ",part-solid,14.2,10.1,12.2,905,5.5,0.250,1,0.123456,,4A,0.432,3.2") {
		t.Errorf("measured row %q", lines[1])
	}
	if !strings.HasSuffix(lines[2], ",,,,,,,,,,,,,") {
		t.Errorf("unmeasured row %q has values in the measurement columns", lines[2])
	}
	out, err := Read(&b, "mem")
	if err != nil {
		t.Fatal(err)
	}
	o := out[0]
	if o.Type != "part-solid" || o.LongAxisMM != 14.2 || !o.UpperZone || o.Brock != 0.123456 || !math.IsNaN(o.CNN) || o.LungRADS != "4A" ||
		o.Lobulation != 0.432 || o.PleuraDistanceMM != 3.2 {
		t.Errorf("read back %+v", o)
	}
	if out[1].Type != "" || out[1].UpperZone || !math.IsNaN(out[1].LongAxisMM) || !math.IsNaN(out[1].PleuraDistanceMM) {
		t.Errorf("unmeasured read back %+v", out[1])
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
	// Negative sizes and scores outside [0,1] are refused by file, line
	// and column; empty cells are unknown, and a LUNA16 score may be any
	// number.
	for _, c := range []struct{ col, val string }{{"diameter_mm", "-4"}, {"long_axis_mm", "-0.5"}, {"volume_mm3", "-1"},
		{"malignancy", "7"}, {"malignancy", "-1"}, {"spiculation", "1.5"}, {"brock", "-0.1"}} {
		csv := "seriesuid,coordX,coordY,coordZ," + c.col + "\na,1,2,3,0.5\nb,1,2,3," + c.val + "\n"
		_, err := Read(strings.NewReader(csv), "bad.csv")
		if err == nil || !strings.Contains(err.Error(), "bad.csv") || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), c.col) {
			t.Errorf("%s %s: %v", c.col, c.val, err)
		}
	}
	// A literal NaN or Inf, and an empty score where the file has a
	// probability column, are refused by file and line.
	for _, bad := range []string{"a,1,2,3,0.5,NaN\n", "a,1,2,3,0.5,+Inf\n", "a,1,2,3,,4\n", "a,1,2,3,NaN,4\n"} {
		_, err := Read(strings.NewReader("seriesuid,coordX,coordY,coordZ,probability,diameter_mm\n"+bad), "bad.csv")
		if err == nil || !strings.Contains(err.Error(), "bad.csv: line 2: column") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	cs, err = Read(strings.NewReader("seriesuid,coordX,coordY,coordZ,probability,diameter_mm,malignancy\na,1,2,3,-2.5,,\n"), "ok.csv")
	if err != nil || len(cs) != 1 || cs[0].Probability != -2.5 || !math.IsNaN(cs[0].DiameterMM) || !math.IsNaN(cs[0].Malignancy) {
		t.Errorf("empty cells and a negative score: %v %+v", err, cs)
	}
}

// Text columns cannot start a spreadsheet formula; numbers stay numbers; the
// ids read back as they were.
func TestHostileIDsRoundTrip(t *testing.T) {
	in := []Candidate{{SeriesUID: "=HYPERLINK(\"x\")", PatientID: "-patient,1", World: [3]float64{-12.5, 0, 1},
		Probability: 0.5, Malignancy: math.NaN(), DiameterMM: math.NaN(), MeanHU: math.NaN(), MeanSI: math.NaN(),
		Compactness: math.NaN(), DetectScore: math.NaN()}}
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[0], ",malignancy,patient_id,") {
		t.Errorf("header %q has no patient_id column after malignancy", lines[0])
	}
	if !strings.HasPrefix(lines[1], `"'=HYPERLINK(""x"")",-12.500,`) || !strings.Contains(lines[1], `,"'-patient,1",`) {
		t.Errorf("row %q: formula not neutralised or number escaped", lines[1])
	}
	out, err := Read(&b, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if out[0].SeriesUID != in[0].SeriesUID || out[0].PatientID != in[0].PatientID || out[0].World[0] != -12.5 {
		t.Errorf("read back %+v", out[0])
	}
}
