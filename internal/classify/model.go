package classify

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/jsonstrict"
	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/safefile"
)

// Model file layout (all integers little endian):
//
//	offset 0   8 bytes  magic "LUNGCNN\x00"
//	offset 8   uint32   format version (FormatVersion)
//	offset 12  uint32   header length H in bytes
//	offset 16  H bytes  JSON Header (architecture, patch spec, parameter
//	                    names and shapes, model card)
//	then       float32  every parameter, in Header.Params order, C order
//	last 4     uint32   CRC-32 (IEEE) of every byte before it
const (
	// Magic is the first 8 bytes of a model file.
	Magic = "LUNGCNN\x00"
	// FormatVersion is the model file format this package writes and reads.
	FormatVersion = 1
)

// Limits of a model file, checked by Decode and Load (Load checks them, and
// the memory budget, from the file's size and header before reading the
// weights) and by Encode, so that no file this package writes is refused.
const (
	// MaxHeaderBytes is the most bytes the JSON header may take: 64 KiB.
	// It holds the architecture, the patch spec, at most 20 parameter
	// names and shapes (about 1 KiB) and the model card, whose text fields
	// (a description, two table names and hashes, a note) take 1 to 2 KiB
	// in the models lungctl trains; 64 KiB leaves room for a long note and
	// bounds what a hostile card can make lungctl hold or print.
	MaxHeaderBytes = 64 << 10
	// MaxPatchSize is the largest network input (patch side, voxels) a
	// model may have: 128. Nodules are at most 30 mm across and 3-D nodule
	// classifiers use 32³ to 96³ patches at about 1 mm; 128³ holds a 30 mm
	// nodule with 49 mm of context on each side. Larger inputs are not
	// nodule classifiers, and their forward pass is costly: the first
	// convolution alone needs 27·Size³ float32 of im2col scratch per worker
	// (1.8 GB at 256³; see ForwardBytes).
	MaxPatchSize = 128
	// MaxModelBytes is the largest model file: 512 MiB. The largest model
	// lungctl train can write (its 32³ input, five conv blocks of 1024
	// channels, 113 280 001 float32 weights) is a 432 MiB file; the
	// architecture limits of nn.Arch alone would allow files of hundreds of
	// terabytes. Load also refuses a file whose bytes and decoded weights
	// (twice its size) exceed the memory budget (package membudget).
	MaxModelBytes = 512 << 20
	// MinWindowHU is the narrowest HU normalisation window (Norm.MaxHU −
	// Norm.MinHU) a model may have: 1 HU. Patches are scaled by
	// 1/(MaxHU − MinHU); a narrower window would make that scale overflow
	// (NaN scores) or, for HU values stored as integers, no longer a window.
	MinWindowHU = 1
)

// prefixLen is the length of the fixed prefix: magic, version, header length.
const prefixLen = 16

// minFileLen is the shortest file that can hold a model: the prefix, a
// header of at least 2 bytes ("{}") and the checksum.
const minFileLen = prefixLen + 2 + 4

var (
	// ErrModelFormat reports a file that is not a lungctl model or is
	// truncated or corrupt (bad magic, bad header, size or checksum).
	ErrModelFormat = errors.New("not a valid lungctl model file")
	// ErrModelVersion reports a model file of a format version this build
	// cannot read.
	ErrModelVersion = errors.New("unsupported model file version")
)

// ParamInfo names one stored parameter tensor.
type ParamInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Provenance is how files written before model cards recorded their
// training; it is read (and shown by lungctl model info) but no longer
// written: the Card replaces it.
type Provenance struct {
	// DataSource describes the training data, e.g. "phantom patches (seed 1, 1600 samples)".
	DataSource string `json:"data_source"`
	// Seed is TrainOptions.Seed; Epochs the number of epochs run.
	Seed   uint64 `json:"seed"`
	Epochs int    `json:"epochs"`
	// BestEpoch is the epoch (1-based) whose weights were kept.
	BestEpoch int `json:"best_epoch"`
	// Date is the UTC training end time, RFC 3339.
	Date string `json:"date"`
	// ValAUC and ValLoss are the held-out ROC AUC and mean BCE of the kept weights.
	ValAUC  float64 `json:"val_auc"`
	ValLoss float64 `json:"val_loss"`
	// TrainSamples and ValSamples count the patches of each split.
	TrainSamples int `json:"train_samples"`
	ValSamples   int `json:"val_samples"`
	// Note is free text, e.g. the command that regenerates the model.
	Note string `json:"note,omitempty"`
}

// Header is the JSON header of a model file: format version, network
// architecture, patch sampling and HU normalisation, the stored parameter
// tensors (names and shapes, in storage order) and the model card. The
// card is optional so that files written before it existed still load.
type Header struct {
	FormatVersion int         `json:"format_version"`
	Arch          nn.Arch     `json:"arch"`
	Patch         PatchSpec   `json:"patch"`
	Params        []ParamInfo `json:"params"`
	Card          *Card       `json:"card,omitempty"`
	// Training is the provenance of files written before cards existed.
	Training *Provenance `json:"training,omitempty"`
}

// Model is a trained network with its patch sampling and card.
type Model struct {
	// Net holds the weights.
	Net *nn.Net
	// Patch is how candidates are sampled for this network.
	Patch PatchSpec
	// Header is the header read from (or to be written to) the file;
	// Encode refreshes its architecture, patch and parameter fields.
	Header Header
	// sha is the hex SHA-256 of the file the model was decoded from or
	// last saved to ("" before either).
	sha string
	// src names the model in messages: the file it was loaded from or last
	// saved to, or the embedded default ("" for a model built in memory).
	src string
}

// name is how messages name the model: its file, or "model in memory".
func (m *Model) name() string {
	if m.src == "" {
		return "model in memory"
	}
	return m.src
}

// Card returns the model card, or UnknownCard for a file without one.
func (m *Model) Card() Card {
	if m.Header.Card == nil {
		return UnknownCard()
	}
	return *m.Header.Card
}

// SHA256 is the hex SHA-256 of the model file: of the bytes it was decoded
// from or last saved to, or, for a model never read or written, of what
// Save would write now. It is "" only when the model cannot be encoded.
func (m *Model) SHA256() string {
	if m.sha != "" {
		return m.sha
	}
	b, err := m.Encode()
	if err != nil {
		return ""
	}
	return hexSHA256(b)
}

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Validate checks a patch spec on its own: a positive side, a positive
// finite spacing, finite HU values and a window (MaxHU − MinHU) of at least
// MinWindowHU that is itself finite.
func (s PatchSpec) Validate() error {
	n := s.Norm
	w := n.MaxHU - n.MinHU
	switch {
	case s.Size < 1:
		return fmt.Errorf("patch size %d voxels", s.Size)
	case !(s.SpacingMM > 0) || math.IsInf(s.SpacingMM, 0):
		return fmt.Errorf("patch spacing %g mm, want a positive finite value", s.SpacingMM)
	case !finite(n.MinHU) || !finite(n.MaxHU) || !finite(n.OutsideHU):
		return fmt.Errorf("HU window [%g, %g] (outside %g): want finite values", n.MinHU, n.MaxHU, n.OutsideHU)
	case !(w >= MinWindowHU) || math.IsInf(w, 0):
		return fmt.Errorf("HU window [%g, %g]: want max_hu − min_hu of at least %d HU and finite", n.MinHU, n.MaxHU, MinWindowHU)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// checkArch checks a network and patch spec against the model limits
// (MaxPatchSize, MaxModelBytes with a header of MaxHeaderBytes) without
// allocating the network.
func checkArch(a nn.Arch, spec PatchSpec) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if a.Size > MaxPatchSize {
		return fmt.Errorf("network input %d³ voxels: at most %d³ (MaxPatchSize: a nodule classifier needs no more)", a.Size, MaxPatchSize)
	}
	if spec.Size != a.Size {
		return fmt.Errorf("patch size %d ≠ network input %d", spec.Size, a.Size)
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if w := weightBytes(a); w > MaxModelBytes-MaxHeaderBytes-minFileLen {
		return fmt.Errorf("%d weights (%s): a model file is at most %s (MaxModelBytes)",
			a.NumParams(), membudget.Format(uint64(w)), membudget.Format(MaxModelBytes))
	}
	return nil
}

// weightBytes is the bytes of a's weights in a file (4 a weight); a must be valid.
func weightBytes(a nn.Arch) int64 { return 4 * int64(a.NumParams()) }

// NewModel returns an untrained model (He-initialised from seed). The
// architecture and patch spec must be within the limits Load accepts
// (MaxPatchSize, MaxModelBytes, PatchSpec.Validate).
func NewModel(a nn.Arch, spec PatchSpec, seed uint64) (*Model, error) {
	if err := checkArch(a, spec); err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	n, err := nn.New(a)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	n.Init(seed)
	return &Model{Net: n, Patch: spec}, nil
}

// Encode serialises the model in the file format above.
func (m *Model) Encode() ([]byte, error) {
	h := m.Header
	h.FormatVersion = FormatVersion
	h.Arch = m.Net.Arch
	h.Patch = m.Patch
	h.Params = nil
	for _, p := range m.Net.Params() {
		h.Params = append(h.Params, ParamInfo{Name: p.Name, Shape: slices.Clone(p.Shape)})
	}
	if err := checkArch(h.Arch, h.Patch); err != nil {
		return nil, fmt.Errorf("classify: encode: %w", err)
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("classify: encode header: %w", err)
	}
	if len(js) > MaxHeaderBytes {
		return nil, fmt.Errorf("classify: encode: header with the model card is %d bytes, at most %d (MaxHeaderBytes; shorten the note)", len(js), MaxHeaderBytes)
	}
	var buf bytes.Buffer
	buf.WriteString(Magic)
	var u [4]byte
	binary.LittleEndian.PutUint32(u[:], FormatVersion)
	buf.Write(u[:])
	binary.LittleEndian.PutUint32(u[:], uint32(len(js)))
	buf.Write(u[:])
	buf.Write(js)
	for _, p := range m.Net.Params() {
		for _, v := range p.Data {
			binary.LittleEndian.PutUint32(u[:], math.Float32bits(v))
			buf.Write(u[:])
		}
	}
	binary.LittleEndian.PutUint32(u[:], crc32.ChecksumIEEE(buf.Bytes()))
	buf.Write(u[:])
	return buf.Bytes(), nil
}

// Save writes the model to path atomically (temporary file + rename).
func (m *Model) Save(path string) error {
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("classify: %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("classify: %s: %w", path, err)
	}
	m.sha, m.src = hexSHA256(b), path
	return nil
}

// Load reads and validates a model file; errors name the file. Before
// reading more than the header it refuses a path that is not a regular
// file (a FIFO, device or folder: safefile.ErrNotRegular), a file whose
// size differs from what its header describes or exceeds MaxModelBytes,
// and one whose bytes and decoded weights (about twice its size) exceed
// the memory budget (membudget.ErrTooBig).
func Load(path string) (*Model, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("classify: model: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only: closing loses nothing
	b, err := readModel(f, path)
	if err != nil {
		return nil, err
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("classify: model %s: %w", path, err)
	}
	m.src = path
	return m, nil
}

// readModel reads the model file f (named path in errors) after checking
// its prefix, header, size and the memory budget.
func readModel(f *os.File, path string) ([]byte, error) {
	bad := func(err error) error { return fmt.Errorf("classify: model %s: %w", path, err) }
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("classify: model: %w", err)
	}
	size := st.Size()
	prefix := make([]byte, min(size, prefixLen))
	if _, err := io.ReadFull(f, prefix); err != nil {
		return nil, bad(fmt.Errorf("%w: %w", ErrModelFormat, err))
	}
	hl, err := checkPrefix(prefix, size)
	if err != nil {
		return nil, bad(err)
	}
	js := make([]byte, hl) // hl ≤ MaxHeaderBytes
	if _, err := io.ReadFull(f, js); err != nil {
		return nil, bad(fmt.Errorf("%w: header: %w", ErrModelFormat, err))
	}
	h, err := decodeHeader(js)
	if err != nil {
		return nil, bad(err)
	}
	if err := checkFileSize(h, hl, size); err != nil {
		return nil, bad(err)
	}
	// the file's bytes and the weights decoded from them are held at once
	what := fmt.Sprintf("classify: model %s: %s file and its %d weights", path, membudget.Format(uint64(size)), h.Arch.NumParams())
	if err := membudget.Check(what, uint64(size)+uint64(weightBytes(h.Arch))); err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, bad(fmt.Errorf("%w: reading %d bytes: %w", ErrModelFormat, size, err))
	}
	if n, _ := f.ReadAt(make([]byte, 1), size); n != 0 {
		return nil, bad(fmt.Errorf("%w: the file grew while being read", ErrModelFormat))
	}
	return b, nil
}

// checkPrefix checks the first min(size, 16) bytes of a model file of size
// bytes (magic, version, header length) and returns the header length.
func checkPrefix(p []byte, size int64) (int, error) {
	switch {
	case size == 0:
		return 0, fmt.Errorf("%w: empty file", ErrModelFormat)
	case string(p[:min(len(p), len(Magic))]) != Magic[:min(len(p), len(Magic))]:
		return 0, fmt.Errorf("%w: bad magic (not a lungctl model file)", ErrModelFormat)
	case size < minFileLen:
		return 0, fmt.Errorf("%w: %d bytes, too short for a model file (truncated)", ErrModelFormat, size)
	case size > MaxModelBytes:
		return 0, fmt.Errorf("%w: %s, larger than any model file may be (%s, MaxModelBytes)",
			ErrModelFormat, membudget.Format(uint64(size)), membudget.Format(MaxModelBytes))
	}
	if v := binary.LittleEndian.Uint32(p[8:12]); v != FormatVersion {
		return 0, fmt.Errorf("%w: version %d, this build reads %d", ErrModelVersion, v, FormatVersion)
	}
	hl := int64(binary.LittleEndian.Uint32(p[12:16]))
	switch {
	case hl > MaxHeaderBytes:
		return 0, fmt.Errorf("%w: header (with the model card) of %d bytes, at most %d (MaxHeaderBytes)", ErrModelFormat, hl, MaxHeaderBytes)
	case hl < 2:
		return 0, fmt.Errorf("%w: header length %d", ErrModelFormat, hl)
	case prefixLen+hl+4 > size:
		return 0, fmt.Errorf("%w: header length %d, but the file has %d bytes (truncated or corrupt)", ErrModelFormat, hl, size)
	}
	return int(hl), nil
}

// decodeHeader parses and checks the JSON header (one object, nothing after
// it but white space) against the format version and the model limits.
func decodeHeader(js []byte) (Header, error) {
	var h Header
	dec := json.NewDecoder(bytes.NewReader(js))
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrModelFormat, err)
	}
	if err := jsonstrict.UniqueKeys(js); err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrModelFormat, err)
	}
	if rest := bytes.TrimSpace(js[dec.InputOffset():]); len(rest) > 0 {
		return h, fmt.Errorf("%w: header: %d bytes after the JSON object", ErrModelFormat, len(rest))
	}
	if h.FormatVersion != FormatVersion {
		return h, fmt.Errorf("%w: header says version %d", ErrModelVersion, h.FormatVersion)
	}
	if err := checkArch(h.Arch, h.Patch); err != nil {
		return h, fmt.Errorf("%w: %w", ErrModelFormat, err)
	}
	return h, nil
}

// checkFileSize checks that a file of size bytes holds exactly the header of
// hl bytes, the weights of h.Arch and the checksum.
func checkFileSize(h Header, hl int, size int64) error {
	if want := prefixLen + int64(hl) + weightBytes(h.Arch) + 4; size != want {
		return fmt.Errorf("%w: %d bytes, but its header describes %d weights: a %d-byte file (truncated, padded or corrupt)",
			ErrModelFormat, size, h.Arch.NumParams(), want)
	}
	return nil
}

// Decode parses the bytes of a model file (see Load for the checks).
func Decode(b []byte) (*Model, error) {
	hl, err := checkPrefix(b[:min(len(b), prefixLen)], int64(len(b)))
	if err != nil {
		return nil, err
	}
	body := b[:len(b)-4]
	if got, want := crc32.ChecksumIEEE(body), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (file corrupt or truncated)", ErrModelFormat)
	}
	h, err := decodeHeader(b[prefixLen : prefixLen+hl])
	if err != nil {
		return nil, err
	}
	// check sizes before allocating anything a corrupt header could inflate
	if err := checkFileSize(h, hl, int64(len(b))); err != nil {
		return nil, err
	}
	n, err := nn.New(h.Arch)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModelFormat, err)
	}
	ps := n.Params()
	if len(h.Params) != len(ps) {
		return nil, fmt.Errorf("%w: %d parameter tensors, architecture has %d", ErrModelFormat, len(h.Params), len(ps))
	}
	off := prefixLen + hl
	for i, p := range ps {
		if h.Params[i].Name != p.Name || !slices.Equal(h.Params[i].Shape, p.Shape) {
			return nil, fmt.Errorf("%w: parameter %d is %s %v, want %s %v", ErrModelFormat, i,
				h.Params[i].Name, h.Params[i].Shape, p.Name, p.Shape)
		}
		for j := range p.Data {
			v := math.Float32frombits(binary.LittleEndian.Uint32(body[off+4*j:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%w: non-finite weight in %s", ErrModelFormat, p.Name)
			}
			p.Data[j] = v
		}
		off += 4 * len(p.Data)
	}
	return &Model{Net: n, Patch: h.Patch, Header: h, sha: hexSHA256(b)}, nil
}

//go:embed model/default.lcnn
var defaultModel []byte

// DefaultModelName is the file name of the embedded default model under
// internal/classify/model/.
const DefaultModelName = "default.lcnn"

// Default returns a fresh copy of the embedded default model, trained on
// synthetic phantom patches only (its card's domain is DomainPhantom; make
// model retrains it).
func Default() (*Model, error) {
	m, err := Decode(defaultModel)
	if err != nil {
		return nil, fmt.Errorf("classify: embedded model %s: %w", DefaultModelName, err)
	}
	m.src = "embedded model " + DefaultModelName
	return m, nil
}
