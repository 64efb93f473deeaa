package risk

import (
	"math"
	"strings"
	"testing"
)

// Whatever the file holds, the reader returns rows or an error naming the
// file; it never panics, and every row it returns validates.
func FuzzParseClinicalCSV(f *testing.F) {
	f.Add("id,age,sex,family_history,emphysema\np1,062Y,F,1,no\n")
	f.Add("sex,id,age,emphysema,family_history,x\nM,a,70,,,\"q\n\"\n")
	f.Add("id,age,sex,family_history,emphysema\n\"p\n1\",1,O,0,0\np2,bad,M,0,0\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ParseClinicalCSV(strings.NewReader(in), "f.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "f.csv") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for id, c := range rows {
			if id == "" {
				t.Fatal("empty id accepted")
			}
			if verr := c.Validate(); verr != nil {
				t.Fatalf("row %q does not validate: %v", id, verr)
			}
		}
	})
}

// Brock and LungRADS answer every input with a probability in [0, 1] or a
// category, or an error; they never panic and never return NaN.
func FuzzScores(f *testing.F) {
	f.Add(62.0, true, int8(1), int8(0), int8(2), 8.0, int8(1), true, false, 3, 4.0, 100.0, 0.0)
	f.Add(math.NaN(), false, int8(9), int8(-1), int8(5), -1.0, int8(42), false, true, -2, math.Inf(1), -3.0, 7.0)
	f.Fuzz(func(t *testing.T, age float64, ageKnown bool, sex, fam, emph int8, size float64, typ int8,
		upper, spic bool, count int, solid, vol, solidVol float64) {
		in := BrockInput{Clinical: Clinical{AgeYears: age, AgeKnown: ageKnown, Sex: Sex(sex),
			FamilyHistory: Tri(fam), Emphysema: Tri(emph)}, SizeMM: size, Type: NoduleType(typ),
			UpperLobe: upper, Spiculated: spic, NoduleCount: count}
		if r, err := Brock(in); err == nil {
			for _, p := range []float64{r.Probability, r.Low, r.High} {
				if !(p >= 0 && p <= 1) {
					t.Fatalf("Brock(%+v) = %+v", in, r)
				}
			}
			if !(r.Low <= r.Probability && r.Probability <= r.High) {
				t.Fatalf("Brock(%+v): P outside [Low, High]: %+v", in, r)
			}
		}
		n := LungRADSNodule{Type: NoduleType(typ), MeanDiameterMM: size, SolidMeanDiameterMM: solid,
			VolumeMM3: vol, SolidVolumeMM3: solidVol, Suspicious: spic}
		if c, err := LungRADS(n); err == nil && c.Rank() == 0 {
			t.Fatalf("LungRADS(%+v) = %q", n, c)
		}
	})
}
