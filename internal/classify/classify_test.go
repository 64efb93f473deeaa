package classify

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/volume"
)

// linearVolume fills a volume with HU = round(a·x + b·y + c·z + d) of each
// voxel's world position (LPS mm).
func linearVolume(g volume.Grid, coef [4]float64) *volume.Volume[int16] {
	v := volume.New[int16](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				v.Set(i, j, k, int16(math.Round(coef[0]*w[0]+coef[1]*w[1]+coef[2]*w[2]+coef[3])))
			}
		}
	}
	return v
}

// TestExtractPatchGeometry samples a linear HU field on an anisotropic,
// rotated grid: trilinear interpolation of a linear field is exact up to the
// int16 rounding of the voxels, so each patch value must equal the analytic
// field at the world point the patch sample stands for.
func TestExtractPatchGeometry(t *testing.T) {
	c, s := math.Cos(0.3), math.Sin(0.3)
	g := volume.Grid{Dims: [3]int{60, 50, 30}, Spacing: volume.Vec3{0.7, 0.8, 2.5},
		Origin:    volume.Vec3{-20, -15, -30},
		Direction: [3][3]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}}
	coef := [4]float64{3, -2, 4, -300}
	v := linearVolume(g, coef)
	spec := PatchSpec{Size: 8, SpacingMM: 1.5, Norm: Norm{MinHU: -1000, MaxHU: 1000, OutsideHU: -1000}}
	centre := g.IndexToWorld(volume.Vec3{30.3, 24.6, 14.2})
	dst := make([]float32, 512)
	ExtractPatch(v, centre, spec, nil, dst)
	var col [3]volume.Vec3
	for a := 0; a < 3; a++ {
		for r := 0; r < 3; r++ {
			col[a][r] = g.Direction[r][a]
		}
	}
	p := 0
	for k := 0; k < 8; k++ {
		for j := 0; j < 8; j++ {
			for i := 0; i < 8; i++ {
				o := [3]float64{float64(i - 4), float64(j - 4), float64(k - 4)}
				var w volume.Vec3
				for r := 0; r < 3; r++ {
					w[r] = centre[r] + 1.5*(o[0]*col[0][r]+o[1]*col[1][r]+o[2]*col[2][r])
				}
				hu := coef[0]*w[0] + coef[1]*w[1] + coef[2]*w[2] + coef[3]
				want := (hu + 1000) / 2000
				if d := math.Abs(float64(dst[p]) - want); d > 0.6/2000 {
					t.Fatalf("sample (%d,%d,%d): %.5f, want %.5f (HU %.1f)", i, j, k, dst[p], want, hu)
				}
				p++
			}
		}
	}
	// far outside the volume: air → 0 after normalisation
	ExtractPatch(v, volume.Vec3{1000, 1000, 1000}, spec, nil, dst)
	for i, x := range dst {
		if x != 0 {
			t.Fatalf("outside sample %d = %g, want 0", i, x)
		}
	}
}

// TestAugmentPermutes checks that on a 1 mm grid with the centre on a voxel
// flips and quarter turns only permute the samples (no interpolation), the
// way the transform is documented.
func TestAugmentPermutes(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 20, 20}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := volume.New[int16](g)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range v.Data {
		v.Data[i] = int16(r.IntN(1400) - 1000)
	}
	spec := PatchSpec{Size: 6, SpacingMM: 1, Norm: DefaultNorm}
	ctr := volume.Vec3{10, 10, 10}
	base := make([]float32, 216)
	ExtractPatch(v, ctr, spec, nil, base)
	at := func(p []float32, i, j, k int) float32 { return p[i+6*(j+6*k)] }
	// base sample (i,j,k) is voxel (7+i, 7+j, 7+k)
	if at(base, 1, 2, 3) != float32((float64(v.At(8, 9, 10))+1000)/1400) {
		t.Fatal("un-augmented patch is not the voxels themselves")
	}
	aug := Augment{Flip: [3]bool{false, false, true}, Rot90: 1}
	got := make([]float32, 216)
	ExtractPatch(v, ctr, spec, &aug, got)
	// sample offset o = (i-3, j-3, k-3) → flip z → rotate (x,y) → (−y, x)
	for k := 1; k < 6; k++ {
		for j := 1; j < 6; j++ {
			for i := 1; i < 6; i++ {
				ox, oy, oz := -(j - 3), i-3, -(k - 3)
				if want := at(base, ox+3, oy+3, oz+3); at(got, i, j, k) != want {
					t.Fatalf("augmented (%d,%d,%d) = %g, want %g", i, j, k, at(got, i, j, k), want)
				}
			}
		}
	}
	shift := Augment{ShiftMM: [3]float64{1, 0, -2}}
	ExtractPatch(v, ctr, spec, &shift, got)
	if at(got, 2, 2, 2) != at(base, 3, 2, 0) {
		t.Fatal("a +1, 0, −2 mm shift does not move the samples by those voxels")
	}
}

func TestNoisyOR(t *testing.T) {
	cases := []struct {
		ps   []float64
		k    int
		leak float64
		want float64
	}{
		{nil, 5, 0.02, 0.02},
		{[]float64{0.5}, 5, 0, 0.5},
		{[]float64{0.5, 0.5}, 5, 0, 0.75},
		// top 2 of {0.1, 0.9, 0.5}: 1 − 0.98·0.1·0.5 = 0.951
		{[]float64{0.1, 0.9, 0.5}, 2, 0.02, 0.951},
		// all three: 1 − 0.98·0.9·0.1·0.5 = 0.9559
		{[]float64{0.1, 0.9, 0.5}, 0, 0.02, 0.9559},
		{[]float64{1, 0.3}, 5, 0.02, 1},
		{[]float64{math.NaN(), 0.2}, 5, 0, 0.2},
	}
	for _, c := range cases {
		if got := NoisyOR(c.ps, c.k, c.leak); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("NoisyOR(%v, %d, %g) = %.6f, want %.6f", c.ps, c.k, c.leak, got, c.want)
		}
	}
}

func smallModel(t *testing.T) *Model {
	t.Helper()
	m, err := NewModel(nn.Arch{Size: 8, Channels: []int{2, 3}, Hidden: 4}, PatchSpec{Size: 8, SpacingMM: 1.25, Norm: DefaultNorm}, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Card = &Card{Domain: DomainPatients, Date: "2026-01-02T03:04:05Z",
		Data: TrainingData{Source: SourceLUNA16, Description: "test", Scans: 2,
			Tables: []Table{{Role: "annotations", File: "a.csv", SHA256: "00ff", Rows: 3}},
			Train:  ClassCounts{Malignant: 4, Benign: 9}, HeldOut: ClassCounts{Malignant: 1, Benign: 2}},
		Metrics:      Metrics{HeldOutAUC: 0.5, HeldOutLoss: 0.69, TrainLoss: 0.7, BestEpoch: 1, Epochs: 2},
		Architecture: DescribeArch(m.Net.Arch), LungctlVersion: "test",
		Training: Hyper{Seed: 3, BatchSize: 4, LR: 0.01, GradParts: 8, Augment: "none", ValFrac: 0.2}}
	return m
}

func TestModelRoundTripAndCorruption(t *testing.T) {
	m := smallModel(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.lcnn")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Patch != m.Patch || !reflect.DeepEqual(got.Card(), m.Card()) || got.Net.Arch.Hidden != 4 {
		t.Fatalf("header changed: %+v vs %+v", got.Header, m.Header)
	}
	b, _ := os.ReadFile(path)
	if sum := sha256.Sum256(b); got.SHA256() != hex.EncodeToString(sum[:]) || m.SHA256() != got.SHA256() {
		t.Fatalf("SHA256 %s (saved model %s), file %x", got.SHA256(), m.SHA256(), sum)
	}
	for i, p := range m.Net.Params() {
		q := got.Net.Params()[i]
		if p.Name != q.Name || !equalF32(p.Data, q.Data) {
			t.Fatalf("parameter %s changed", p.Name)
		}
	}
	flip := bytes.Clone(b)
	flip[len(flip)-20] ^= 0x40
	loadErr(t, "flipped.lcnn", flip, ErrModelFormat)
	loadErr(t, "truncated.lcnn", b[:len(b)-9], ErrModelFormat)
	loadErr(t, "empty.lcnn", nil, ErrModelFormat)
	loadErr(t, "magic.lcnn", append([]byte("PK\x03\x04...."), b[8:]...), ErrModelFormat)
	v2 := bytes.Clone(b)
	v2[8] = 2
	loadErr(t, "version.lcnn", v2, ErrModelVersion)
	// a consistent checksum but a header that claims a bigger network
	big := bytes.Replace(bytes.Clone(b[:len(b)-4]), []byte(`"channels":[2,3]`), []byte(`"channels":[900,900]`), 1)
	if bytes.Equal(big, b[:len(b)-4]) {
		t.Fatal("test setup: header text not found")
	}
	hl := binary.LittleEndian.Uint32(big[12:16]) + uint32(len(big)-len(b)+4)
	binary.LittleEndian.PutUint32(big[12:16], hl)
	big = binary.LittleEndian.AppendUint32(big, crc32.ChecksumIEEE(big))
	loadErr(t, "inflated.lcnn", big, ErrModelFormat)
	if _, err := Load(filepath.Join(dir, "missing.lcnn")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestScoreMatchesSinglePatchForward checks that Score on candidates in a
// volume (batched, parallel extraction) gives exactly the sigmoid of the
// network's logit for each patch extracted and evaluated on its own, and
// rejects bad input.
func TestScoreMatchesSinglePatchForward(t *testing.T) {
	m := smallModel(t)
	v := noiseVolume(30, 5)
	var cs []candidate.Candidate
	for i := 0; i < 70; i++ { // more than one batch
		cs = append(cs, candidate.Candidate{World: [3]float64{float64(i%7) - 3, float64(i%5) - 2, float64(i%3) - 1.5}})
	}
	ps, err := Score(v, cs, m)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := gorgop.Build(m.Net, 1, gorgop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	x := make([]float32, m.Net.InputLen())
	z := make([]float32, 1)
	distinct := map[float64]bool{}
	for i, c := range cs {
		ExtractPatch(v, volume.Vec3(c.World), m.Patch, nil, x)
		if err := eng.Forward(x, z); err != nil {
			t.Fatal(err)
		}
		if want := nn.Sigmoid(float64(z[0])); ps[i] != want {
			t.Fatalf("candidate %d: Score %g, single-patch forward %g", i, ps[i], want)
		}
		distinct[ps[i]] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct scores for 70 positions", len(distinct))
	}
	if _, err := Score(v, []candidate.Candidate{{World: [3]float64{math.NaN(), 0, 0}}}, m); err == nil {
		t.Fatal("accepted a NaN position")
	}
	if _, err := Score(v, cs, nil); err == nil {
		t.Fatal("accepted a nil model")
	}
}

// TestSHA256FollowsTheFile checks that an unsaved model's SHA256 is that of
// what Save would write (so it changes with the card) and a saved one's is
// the written file's.
func TestSHA256FollowsTheFile(t *testing.T) {
	m := smallModel(t)
	before := m.SHA256()
	m.Header.Card.Note = "changed"
	if m.SHA256() == before || len(before) != 64 {
		t.Fatalf("SHA256 %q did not follow a card change", before)
	}
	path := filepath.Join(t.TempDir(), "m.lcnn")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); m.SHA256() != hex.EncodeToString(sum[:]) {
		t.Fatalf("after Save: SHA256 %s, file %x", m.SHA256(), sum)
	}
}

// noiseVolume is an n³ volume of 1 mm voxels centred on the origin, of
// uniform noise in −1000…399 HU drawn from seed.
func noiseVolume(n int, seed uint64) *volume.Volume[int16] {
	h := -float64(n) / 2
	g := volume.Grid{Dims: [3]int{n, n, n}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{h, h, h}, Direction: volume.Identity}
	v := volume.New[int16](g)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range v.Data {
		v.Data[i] = int16(r.IntN(1400) - 1000)
	}
	return v
}
