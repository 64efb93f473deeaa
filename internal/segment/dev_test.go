package segment

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/resample"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestDevMasses is a tuning aid: LUNGCTL_MASSDEV="seeds;radius;contact".
func TestDevMasses(t *testing.T) {
	spec := os.Getenv("LUNGCTL_MASSDEV")
	if spec == "" {
		t.Skip("tuning aid")
	}
	var radius, contact float64
	parts := strings.Split(spec, ";")
	fmt.Sscanf(parts[1], "%g", &radius)
	fmt.Sscanf(parts[2], "%g", &contact)
	massLungContact = contact
	for _, f := range strings.Split(parts[0], ",") {
		var seed int64
		fmt.Sscanf(f, "%d", &seed)
		c, err := phantom.Generate(phantom.Options{Seed: seed, Size: phantom.Full})
		if err != nil {
			t.Fatal(err)
		}
		hu, err := resample.Stack(c.HU, nil, volume.Vec3{1, 1, 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, st, err := new(Segmenter).Lungs(hu, Options{MassClosingRadiusMM: radius}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, nd := range c.Nodules {
			if nd.DiameterMM < 25 {
				continue
			}
			fr, _ := ballFraction(m, volume.Vec3(nd.World), nd.DiameterMM*0.3)
			t.Logf("seed %d %s %.0f mm %s: ball(0.3 d) in mask %.2f; lung %.0f mL, masses %v", seed, nd.Kind, nd.DiameterMM, nd.Location, fr, st.VolumeML, st.MassesML)
		}
	}
}

// TestDevPoint is a tuning aid: LUNGCTL_PTDEV="seed;x,y,z" prints the mask
// around an LPS point with and without step 7.
func TestDevPoint(t *testing.T) {
	spec := os.Getenv("LUNGCTL_PTDEV")
	if spec == "" {
		t.Skip("tuning aid")
	}
	var seed int64
	var x, y, z float64
	fmt.Sscanf(spec, "%d;%g,%g,%g", &seed, &x, &y, &z)
	c, _ := phantom.Generate(phantom.Options{Seed: seed, Size: phantom.Full})
	hu, _ := resample.Stack(c.HU, nil, volume.Vec3{1, 1, 1}, nil)
	for _, on := range []bool{false, true} {
		domesOn = on
		m, st, _ := new(Segmenter).Lungs(hu, Options{}, nil)
		fr, _ := ballFraction(m, volume.Vec3{x, y, z}, 2)
		t.Logf("domes %v: 2 mm ball in mask %.2f (dome removed %.1f mL)", on, fr, st.DomeML)
	}
}
