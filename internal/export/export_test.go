package export

import (
	"math"
	"strings"
	"testing"
)

// The one-line summary (Slicer's description, the SEG's segment
// description) names every known measurement and score, marks a pleura
// distance that is only a bound, and stays 7-bit ASCII where DICOM asks.
func TestSummary(t *testing.T) {
	nan := math.NaN()
	f := Finding{Rank: 1, LongAxisMM: 23.44, ShortAxisMM: 18, MeanDiameterMM: 20.72, VolumeMM3: 5123.4,
		SolidDiameterMM: nan, Type: "part-solid", LungRADS: "4B", Brock: 0.314, CNN: nan, Spiculation: nan,
		Lobulation: 0.2, PleuraDistanceMM: 4.46}
	want := "long axis 23.4 mm, short axis 18.0 mm, mean diameter 20.7 mm, volume 5123 mm³, distance to pleura 4.5 mm; part-solid; Lung-RADS 4B; Brock 0.31, lobulation 0.20"
	if got := f.Summary(); got != want {
		t.Errorf("Summary:\n got %q\nwant %q", got, want)
	}
	f.PleuraDistanceMM, f.PleuraBeyond, f.Lobulation = 15, true, nan
	ascii := f.summary(false)
	if !strings.Contains(ascii, "volume 5123 mm3, distance to pleura at least 15 mm;") || strings.Contains(ascii, "lobulation") {
		t.Errorf("ASCII summary %q", ascii)
	}
	for _, r := range ascii {
		if r > 127 {
			t.Errorf("ASCII summary %q has %q", ascii, r)
		}
	}
}
