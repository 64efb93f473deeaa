package risk_test

import (
	"fmt"

	"github.com/lungctl/lungctl/internal/risk"
)

// A 65-year-old woman with a family history of lung cancer and a single
// 10 mm spiculated part-solid nodule in the upper lobe; her emphysema
// status is unknown, so it is defaulted and reported. The logit is the
// fully known case's −0.6210 (worked term by term in brock_test.go) plus
// half the emphysema coefficient, 0.2953/2; Low and High are the
// probabilities without and with emphysema.
func Example_brock() {
	age, known, err := risk.ParsePatientAge("065Y")
	if err != nil {
		fmt.Println(err)
		return
	}
	sex, err := risk.ParsePatientSex("F")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := risk.Brock(risk.BrockInput{
		Clinical:    risk.Clinical{AgeYears: age, AgeKnown: known, Sex: sex, FamilyHistory: risk.Yes},
		SizeMM:      10,
		Type:        risk.PartSolid,
		UpperLobe:   true,
		Spiculated:  true,
		NoduleCount: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("P = %.3f (%.3f–%.3f), logit %.4f, defaulted %v\n", r.Probability, r.Low, r.High, r.Logit, r.Defaulted)

	cat, err := risk.LungRADS(risk.LungRADSNodule{Type: risk.PartSolid, MeanDiameterMM: 9.2,
		SolidMeanDiameterMM: 4.1, Suspicious: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Lung-RADS", cat)
	// Output:
	// P = 0.384 (0.350–0.419), logit -0.4734, defaulted [emphysema]
	// Lung-RADS 4X
}

// Two nodules of one patient combined with the classify command's defaults.
func ExampleNoisyOR() {
	p, err := risk.NoisyOR([]float64{0.35, 0.04}, risk.DefaultTopK, risk.DefaultLeak)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.4f\n", p) // 1 − 0.98·0.65·0.96
	// Output: 0.3885
}
