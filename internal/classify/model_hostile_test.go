package classify

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/testfs"
)

// splitModel returns the JSON header of a model file, decoded into a map
// for editing, and its weight bytes.
func splitModel(t *testing.T, b []byte) (map[string]any, []byte) {
	t.Helper()
	hl := int(binary.LittleEndian.Uint32(b[12:16]))
	var h map[string]any
	if err := json.Unmarshal(b[16:16+hl], &h); err != nil {
		t.Fatal(err)
	}
	return h, b[16+hl : len(b)-4]
}

// craftModel lays out a model file as Encode does, with the header text js
// as given, the weights and a valid checksum.
func craftModel(js, weights []byte) []byte {
	b := []byte(Magic)
	b = binary.LittleEndian.AppendUint32(b, FormatVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(append(b, js...), weights...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// editModel is the file b with its header changed by edit (and re-encoded).
func editModel(t *testing.T, b []byte, edit func(h map[string]any)) []byte {
	t.Helper()
	h, w := splitModel(t, b)
	edit(h)
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return craftModel(js, w)
}

// savedSmallModel writes smallModel to a temporary file and returns its
// path and bytes.
func savedSmallModel(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "small.lcnn")
	if err := smallModel(t).Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// loadErr writes data to name in a temporary folder, loads it and returns
// the error, failing when it loads or when the error does not wrap want or
// name the file or contain each of says.
func loadErr(t *testing.T, name string, data []byte, want error, says ...string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil {
		t.Fatalf("%s: loaded", name)
	}
	if !errors.Is(err, want) || !strings.Contains(err.Error(), p) {
		t.Fatalf("%s: error %q, want %v naming the file", name, err, want)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: error %q does not say %q", name, err, s)
		}
	}
}

// allocated returns the bytes allocated while f ran.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestLoadRefusesAFolder: a path that is not a regular file is refused by
// its kind, not read (FIFOs and devices: model_fifo_test.go).
func TestLoadRefusesAFolder(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	if !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "folder") {
		t.Fatalf("Load(folder): %v, want ErrNotRegular naming it and its kind", err)
	}
}

// TestLoadChecksSizeBeforeReading: a file larger than MaxModelBytes, or of
// another size than its header describes, is refused from its size and
// header, without reading (allocating) its bytes. The files are sparse.
func TestLoadChecksSizeBeforeReading(t *testing.T) {
	_, b := savedSmallModel(t)
	for _, c := range []struct {
		size int64
		says string
	}{
		{MaxModelBytes + 1, "MaxModelBytes"},
		{64 << 20, "header describes"},
		{int64(len(b)) + 1, "header describes"},
	} {
		p := filepath.Join(t.TempDir(), "sparse.lcnn")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, c.size); err != nil {
			t.Fatal(err)
		}
		var err error
		if n := allocated(func() { _, err = Load(p) }); n > 1<<20 {
			t.Errorf("%d-byte file: Load allocated %d bytes before refusing it", c.size, n)
		}
		if !errors.Is(err, ErrModelFormat) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%d-byte file: %v, want ErrModelFormat naming the file and saying %q", c.size, err, c.says)
		}
	}
}

// TestLoadChecksTheMemoryBudget: the file and its decoded weights are
// checked against the budget before the file is read.
func TestLoadChecksTheMemoryBudget(t *testing.T) {
	path, b := savedSmallModel(t)
	testfs.SetBudget(t, uint64(len(b))) // the file fits, the file and weights do not
	_, err := Load(path)
	if !testfs.TooBig(err, path) {
		t.Fatalf("Load under a %d-byte budget: %v, want ErrTooBig naming the file", len(b), err)
	}
	membudget.Set(uint64(2 * len(b)))
	if _, err := Load(path); err != nil {
		t.Fatalf("Load under a budget of twice the file: %v", err)
	}
}

// TestHeaderLimits: a header (model card) over MaxHeaderBytes is refused by
// its length, on load and on save; JSON after the header object is
// refused, white space is not.
func TestHeaderLimits(t *testing.T) {
	path, b := savedSmallModel(t)
	long := strings.Repeat("A", MaxHeaderBytes)
	big := editModel(t, b, func(h map[string]any) { h["card"].(map[string]any)["note"] = long })
	loadErr(t, "bignote.lcnn", big, ErrModelFormat, "MaxHeaderBytes")

	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Card.Note = long
	out := filepath.Join(t.TempDir(), "out.lcnn")
	if err := m.Save(out); err == nil || !strings.Contains(err.Error(), "MaxHeaderBytes") {
		t.Fatalf("Save with a %d-byte note: %v, want a MaxHeaderBytes error", len(long), err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("Save wrote a file Load would refuse")
	}

	h, w := splitModel(t, b)
	js, _ := json.Marshal(h)
	loadErr(t, "trailing.lcnn", craftModel(append(bytes.Clone(js), ` {"arch":{}}`...), w), ErrModelFormat, "after the JSON object")
	// A key named twice, here or in the card: encoding/json would keep the
	// last value silently.
	dup := bytes.Replace(js, []byte(`{`), []byte(`{"format_version":99,`), 1)
	loadErr(t, "dupkey.lcnn", craftModel(dup, w), ErrModelFormat, `duplicate key "format_version" in the top-level object`)
	dupCard := bytes.Replace(js, []byte(`"card":{`), []byte(`"card":{"domain":"patients",`), 1)
	if bytes.Equal(dupCard, js) {
		t.Fatal("no card object in the header")
	}
	loadErr(t, "dupcard.lcnn", craftModel(dupCard, w), ErrModelFormat, `duplicate key "domain" in card`)
	p := filepath.Join(t.TempDir(), "spaces.lcnn")
	if err := os.WriteFile(p, craftModel(append(bytes.Clone(js), " \n"...), w), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatalf("header followed by white space: %v", err)
	}
}

// TestShortFiles: a file too short to be a model is reported as such, with
// the right magic or a prefix of it, and as bad magic otherwise.
func TestShortFiles(t *testing.T) {
	_, b := savedSmallModel(t)
	loadErr(t, "empty.lcnn", nil, ErrModelFormat, "empty file")
	for _, n := range []int{4, 8, 12, 16, 21} {
		loadErr(t, "short.lcnn", b[:n], ErrModelFormat, "too short")
	}
	loadErr(t, "zip.lcnn", []byte("PK\x03\x04........"), ErrModelFormat, "bad magic")
	loadErr(t, "hl0.lcnn", craftModel(nil, make([]byte, 8)), ErrModelFormat, "header length 0")
}

// TestNormWindowLimits: a window narrower than MinWindowHU (which made
// every score NaN), or of infinite width, is refused; 1 HU is accepted.
func TestNormWindowLimits(t *testing.T) {
	_, b := savedSmallModel(t)
	norm := func(lo, hi, out float64) []byte {
		return editModel(t, b, func(h map[string]any) {
			h["patch"].(map[string]any)["norm"] = map[string]any{"min_hu": lo, "max_hu": hi, "outside_hu": out}
		})
	}
	loadErr(t, "tiny.lcnn", norm(0, 5e-324, 0), ErrModelFormat, "HU window")
	loadErr(t, "wide.lcnn", norm(-1e308, 1e308, 0), ErrModelFormat, "HU window")
	loadErr(t, "reversed.lcnn", norm(400, -1000, 0), ErrModelFormat, "HU window")
	p := filepath.Join(t.TempDir(), "one.lcnn")
	if err := os.WriteFile(p, norm(0, 1, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatalf("a 1 HU window: %v", err)
	}
	spec := PatchSpec{Size: 8, SpacingMM: 1, Norm: Norm{MinHU: 0, MaxHU: 0.5}}
	if _, err := NewModel(nn.Arch{Size: 8, Channels: []int{2}}, spec, 1); err == nil {
		t.Fatal("NewModel accepted a 0.5 HU window")
	}
}

// TestPatchSizeCap: a network input over MaxPatchSize is refused from the
// header, before its (large) weights are looked for.
func TestPatchSizeCap(t *testing.T) {
	_, b := savedSmallModel(t)
	big := editModel(t, b, func(h map[string]any) {
		h["arch"] = map[string]any{"size": 256, "channels": []int{1}, "hidden": 0}
		h["patch"].(map[string]any)["size_voxels"] = 256
	})
	loadErr(t, "p256.lcnn", big, ErrModelFormat, "MaxPatchSize")
	if _, err := NewModel(nn.Arch{Size: 256, Channels: []int{1}}, PatchSpec{Size: 256, SpacingMM: 1, Norm: DefaultNorm}, 1); err == nil {
		t.Fatal("NewModel accepted a 256³ input")
	}
}

// TestForwardBytes checks the estimate against its formula for the
// default architecture and against the live heap of a built and run graph.
func TestForwardBytes(t *testing.T) {
	a := nn.Arch{Size: 32, Channels: []int{8, 16, 32}}
	const mib = 1 << 20
	col := uint64(4 * 27 * 32 * 32 * 32)
	if got, want := ForwardBytes(a, 64, 1), uint64(102.5*mib)+4*64*2+col; got != want {
		t.Fatalf("ForwardBytes(default, 64, 1) = %d, want %d", got, want)
	}
	if d := ForwardBytes(a, 64, 3) - ForwardBytes(a, 64, 1); d != 2*col {
		t.Fatalf("two more workers add %d bytes, want %d", d, 2*col)
	}
	if ForwardBytes(a, 2, 16) != ForwardBytes(a, 2, 2) {
		t.Fatal("a batch of 2 uses at most 2 workers' scratch")
	}
	huge := nn.Arch{Size: 256, Channels: []int{1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024}, Hidden: 1 << 16}
	if ForwardBytes(huge, math.MaxInt, math.MaxInt) != math.MaxUint64 {
		t.Fatal("ForwardBytes does not saturate")
	}

	n, err := nn.New(a)
	if err != nil {
		t.Fatal(err)
	}
	// what building and running a graph allocates (its buffers are kept
	// and reused; with this architecture the kernels allocate nothing else)
	const batch = 8
	var g *gorgop.Graph
	x := make([]float32, batch*n.InputLen()) // the estimate counts it
	got := allocated(func() {
		if g, err = gorgop.Build(n, batch, gorgop.Options{}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if err := g.Forward(x, make([]float32, batch)); err != nil {
				t.Fatal(err)
			}
		}
	}) + uint64(4*len(x))
	if est := ForwardBytes(a, batch, par.Limit()); float64(got) < 0.95*float64(est) || float64(got) > 1.1*float64(est) {
		t.Errorf("a %d-patch graph allocated %d bytes, ForwardBytes says %d", batch, got, est)
	}
	runtime.KeepAlive(g)
}

// TestScoreWithinTheMemoryBudget: Score lowers the batch to fit the budget
// (same scores) and refuses, naming the model file, when one patch does
// not fit.
func TestScoreWithinTheMemoryBudget(t *testing.T) {
	path, _ := savedSmallModel(t)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	v := noiseVolume(20, 7)
	var cs []candidate.Candidate
	for i := 0; i < 9; i++ {
		cs = append(cs, candidate.Candidate{World: [3]float64{float64(i%3) - 1, float64(i%4) - 2, float64(i%5) - 2}})
	}
	want, err := Score(v, cs, m)
	if err != nil {
		t.Fatal(err)
	}
	w := par.Limit()
	one, two := ForwardBytes(m.Net.Arch, 1, w), ForwardBytes(m.Net.Arch, 2, w)
	if b, err := scoreBatch(m, len(cs)); err != nil || b != 16 {
		t.Fatalf("scoreBatch(9 patches) = %d, %v; want 16", b, err)
	}
	testfs.SetBudget(t, two)
	if b, err := scoreBatch(m, len(cs)); err != nil || b != 2 {
		t.Fatalf("scoreBatch under a budget of ForwardBytes(2) = %d, %v; want 2", b, err)
	}
	got, err := Score(v, cs, m)
	if err != nil {
		t.Fatalf("Score under a budget for 2 patches: %v", err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("candidate %d: %g with batches of 2, %g in one batch", i, got[i], want[i])
		}
	}
	membudget.Set(one - 1)
	for _, err := range []error{m.CheckMemory(), func() error { _, err := Score(v, cs, m); return err }()} {
		if !testfs.TooBig(err, path) {
			t.Fatalf("a budget under one patch: %v, want ErrTooBig naming %s", err, path)
		}
	}
}

// TestScoreRefusesOverflowingWeights: a model file whose weights are finite
// but huge (±3e38, alternating) loads, and its network's output is NaN;
// Score gave NaN, which classify wrote as an empty malignancy and turned
// into the leak alone as the patient's probability (0.02), without a word.
// Now Score fails, naming the model file and the candidate.
func TestScoreRefusesOverflowingWeights(t *testing.T) {
	path, b := savedSmallModel(t)
	_, w := splitModel(t, b) // w is b's weights: edited in place
	for i := 0; i+4 <= len(w); i += 4 {
		binary.LittleEndian.PutUint32(w[i:], math.Float32bits(float32(3e38*float64(1-2*(i/4%2)))))
	}
	b = binary.LittleEndian.AppendUint32(b[:len(b)-4], crc32.ChecksumIEEE(b[:len(b)-4]))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatalf("finite weights refused: %v", err)
	}
	v := noiseVolume(30, 5)
	ps, err := Score(v, []candidate.Candidate{{World: [3]float64{0, 0, 0}}}, m)
	if !errors.Is(err, ErrModelOutput) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "candidate 0") {
		t.Fatalf("Score = %v, %v; want ErrModelOutput naming %s and the candidate", ps, err, path)
	}
}
