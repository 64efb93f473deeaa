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
	"math"
	"os"
	"slices"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/classify/nn"
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

// NewModel returns an untrained model (He-initialised from seed).
func NewModel(a nn.Arch, spec PatchSpec, seed uint64) (*Model, error) {
	if spec.Size != a.Size {
		return nil, fmt.Errorf("classify: patch size %d ≠ network input %d", spec.Size, a.Size)
	}
	if !(spec.SpacingMM > 0) || !(spec.Norm.MaxHU > spec.Norm.MinHU) {
		return nil, fmt.Errorf("classify: invalid patch spec %+v", spec)
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
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("classify: encode header: %w", err)
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
	m.sha = hexSHA256(b)
	return nil
}

// Load reads and validates a model file; errors name the file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("classify: model %s: %w", path, err)
	}
	return m, nil
}

// Decode parses the bytes of a model file (see Load).
func Decode(b []byte) (*Model, error) {
	if len(b) < 20 || string(b[:8]) != Magic {
		return nil, fmt.Errorf("%w: bad magic", ErrModelFormat)
	}
	if v := binary.LittleEndian.Uint32(b[8:12]); v != FormatVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrModelVersion, v, FormatVersion)
	}
	body := b[:len(b)-4]
	if got, want := crc32.ChecksumIEEE(body), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (file corrupt or truncated)", ErrModelFormat)
	}
	hl := int(binary.LittleEndian.Uint32(b[12:16]))
	if hl <= 0 || 16+hl > len(body) {
		return nil, fmt.Errorf("%w: header length %d", ErrModelFormat, hl)
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(b[16 : 16+hl]))
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrModelFormat, err)
	}
	if h.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w: header says version %d", ErrModelVersion, h.FormatVersion)
	}
	if err := h.Arch.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModelFormat, err)
	}
	// check sizes before allocating anything a corrupt header could inflate
	if want, have := h.Arch.NumParams(), (len(body)-16-hl)/4; want != have || (len(body)-16-hl)%4 != 0 {
		return nil, fmt.Errorf("%w: architecture has %d weights, file holds %d bytes of weights", ErrModelFormat, want, len(body)-16-hl)
	}
	n, err := nn.New(h.Arch)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModelFormat, err)
	}
	if h.Patch.Size != h.Arch.Size || !(h.Patch.SpacingMM > 0) || !(h.Patch.Norm.MaxHU > h.Patch.Norm.MinHU) {
		return nil, fmt.Errorf("%w: patch spec %+v for input size %d", ErrModelFormat, h.Patch, h.Arch.Size)
	}
	ps := n.Params()
	if len(h.Params) != len(ps) {
		return nil, fmt.Errorf("%w: %d parameter tensors, architecture has %d", ErrModelFormat, len(h.Params), len(ps))
	}
	off := 16 + hl
	for i, p := range ps {
		if h.Params[i].Name != p.Name || !slices.Equal(h.Params[i].Shape, p.Shape) {
			return nil, fmt.Errorf("%w: parameter %d is %s %v, want %s %v", ErrModelFormat, i,
				h.Params[i].Name, h.Params[i].Shape, p.Name, p.Shape)
		}
		if off+4*len(p.Data) > len(body) {
			return nil, fmt.Errorf("%w: truncated weights", ErrModelFormat)
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
	if off != len(body) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrModelFormat, len(body)-off)
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
	return m, nil
}
