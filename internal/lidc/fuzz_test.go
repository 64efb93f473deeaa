package lidc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/shareddata"
)

// FuzzParse feeds arbitrary bytes to Parse and, when they parse, the
// message to Analyze on a small geometry: neither may panic, errors must
// name the file and wrap a sentinel, and results must be consistent.
func FuzzParse(f *testing.F) {
	f.Add([]byte(smallXML))
	f.Add([]byte(`<LidcReadMessage><readingSession><unblindedReadNodule><roi><imageZposition>-127.5</imageZposition>` +
		`<edgeMap><xCoord>1</xCoord><yCoord>1</yCoord></edgeMap><edgeMap><xCoord>9</xCoord><yCoord>1</yCoord></edgeMap>` +
		`<edgeMap><xCoord>5</xCoord><yCoord>9</yCoord></edgeMap></roi></unblindedReadNodule></readingSession></LidcReadMessage>`))
	// The head of the real file (cut mid-way: a truncation seed).
	if b, err := os.ReadFile(filepath.Join(shareddata.Path(lidcCase, lidcSeries), "069.xml")); err == nil {
		f.Add(b[:min(len(b), 6000)])
	}
	g := axialGeom()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data), "fuzz.xml")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.xml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNotLIDC) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		res, err := Analyze(m, g, Options{})
		if err != nil {
			t.Fatalf("Analyze on a valid geometry: %v", err)
		}
		n := 0
		for _, nd := range res.Nodules {
			n += len(nd.Readers)
			if nd.Voxels != nd.Mask.Count() || len(nd.Mask.Data) != nd.Mask.Dims[0]*nd.Mask.Dims[1]*nd.Mask.Dims[2] {
				t.Fatalf("consensus mask inconsistent: %+v", nd.Mask.Dims)
			}
		}
		if n != len(res.Annotations) {
			t.Fatalf("%d annotations, %d grouped", len(res.Annotations), n)
		}
		for _, a := range res.Annotations {
			if a.Contours == 0 || a.Voxels != a.Mask.Count() || a.DiameterMM < 0 {
				t.Fatalf("annotation inconsistent: %+v", a)
			}
			for r := 0; r < 3; r++ {
				if a.Mask.Origin[r] < 0 || a.Mask.Origin[r]+a.Mask.Dims[r] > g.Grid.Dims[r] {
					t.Fatalf("mask box %v+%v outside the grid", a.Mask.Origin, a.Mask.Dims)
				}
			}
		}
	})
}
