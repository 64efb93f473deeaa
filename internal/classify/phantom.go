package classify

import (
	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/volume"
)

// PhantomPatch adapts internal/phantom.Patch (the project's phantom
// generator, nodule within ±1 mm of world (0, 0, 0)) to PatchFunc.
func PhantomPatch(seed int64, kind Kind, diameterMM float64, size int, nodule bool) *volume.Volume[int16] {
	return phantom.Patch(seed, kind, diameterMM, size, nodule)
}
