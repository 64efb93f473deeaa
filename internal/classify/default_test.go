package classify

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volume"
)

// oldDefault is the embedded default model as it was before model cards
// (commit f5a9607): the same weights, no card.
const oldDefault = "testdata/default-v1-nocard.lcnn"

// oldScores holds that file's scores by the engine of its time.
const oldScores = "testdata/default-v1-scores.txt"

// TestOldModelFileLoadsWithUnknownCard loads a model file written before
// cards existed: it must load, report DomainUnknown and keep its legacy
// provenance.
func TestOldModelFileLoadsWithUnknownCard(t *testing.T) {
	m, err := Load(oldDefault)
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Card(); c.Domain != DomainUnknown || c.Data.Source != "" {
		t.Fatalf("card of a file without one: %+v", c)
	}
	if m.Header.Training == nil || m.Header.Training.Seed != 1 {
		t.Fatalf("legacy provenance lost: %+v", m.Header.Training)
	}
	if len(m.SHA256()) != 64 {
		t.Fatalf("SHA256 %q", m.SHA256())
	}
}

// TestDefaultModelCardAndScoresUnchanged checks that the embedded default
// model carries a card saying it was trained on synthetic phantoms only,
// and that neither adding the card nor the gorgonia engine changed a score:
// every parameter equals the old file's bit for bit, and the scores of 200
// patches of a random volume equal, bit for bit, those the old file gave
// with the old float32 engine (testdata/default-v1-scores.txt, written by
// commit 1d11517's code) and those the old file gives now.
func TestDefaultModelCardAndScoresUnchanged(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	c := m.Card()
	if c.Domain != DomainPhantom || c.Data.Source != SourcePhantom || c.Data.Train.Total() != 960 ||
		c.Data.HeldOut.Total() != 240 || c.Data.Train.Malignant == 0 || c.Data.HeldOut.Malignant == 0 ||
		!(c.Metrics.HeldOutAUC > 0.9) || c.Architecture == "" || c.LungctlVersion == "" || c.Date == "" {
		t.Fatalf("default model card %+v", c)
	}
	old, err := Load(oldDefault)
	if err != nil {
		t.Fatal(err)
	}
	if m.SHA256() == old.SHA256() {
		t.Fatal("the embedded file has not changed since the card was added")
	}
	for i, p := range m.Net.Params() {
		if !equalF32(p.Data, old.Net.Params()[i].Data) {
			t.Fatalf("weights of %s changed", p.Name)
		}
	}
	g := volume.Grid{Dims: [3]int{60, 60, 60}, Spacing: volume.Vec3{0.7, 0.7, 1.25}, Origin: volume.Vec3{-21, -21, -37}, Direction: volume.Identity}
	v := volume.New[int16](g)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range v.Data {
		v.Data[i] = int16(r.IntN(1500) - 1000)
	}
	cs := make([]candidate.Candidate, 200)
	for i := range cs {
		cs[i].World = [3]float64{16 * (r.Float64() - 0.5), 16 * (r.Float64() - 0.5), 30 * (r.Float64() - 0.5)}
	}
	got, err := Score(v, cs, m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Score(v, cs, old)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(oldScores)
	if err != nil {
		t.Fatal(err)
	}
	var gold []float64
	for _, l := range strings.Split(string(golden), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		u, err := strconv.ParseUint(l, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		gold = append(gold, math.Float64frombits(u))
	}
	if len(gold) != len(got) {
		t.Fatalf("%d golden scores for %d patches", len(gold), len(got))
	}
	distinct := map[float64]bool{}
	for i := range got {
		if got[i] != want[i] || got[i] != gold[i] {
			t.Fatalf("patch %d: %g with the carded default, %g with the old file, %g with the old file and engine",
				i, got[i], want[i], gold[i])
		}
		distinct[got[i]] = true
	}
	if len(distinct) < 100 {
		t.Fatalf("only %d distinct scores of 200: the check is too weak", len(distinct))
	}
	if b, err := os.ReadFile(filepath.Join("model", DefaultModelName)); err != nil || hexSHA256(b) != m.SHA256() {
		t.Fatalf("Default().SHA256 %s is not the hash of model/%s (%v)", m.SHA256(), DefaultModelName, err)
	}
}
