// Package train fits lungctl's 3-D CNN malignancy model (on the gorgonia
// graph of package classify/gorgop) and writes it with its model card: one
// entry point, Run,
// serves both `lungctl train` and `make model`. It owns the training data:
// synthetic phantom patches (internal/phantom, or this package's own
// generator) and LUNA16/LIDC tables with their CT volumes.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
	"github.com/lungctl/lungctl/internal/classify/nn"
)

// Phantom generators for PhantomData.Generator.
const (
	// GeneratorPhantom is internal/phantom.Patch, the project's phantom
	// generator (the default, and the embedded default model's data).
	GeneratorPhantom = "phantom"
	// GeneratorSynth is this package's independent nodule generator.
	GeneratorSynth = "synth"
)

// PhantomData configures synthetic training data (Config.Source
// classify.SourcePhantom).
type PhantomData struct {
	// N is the number of patches, training and held-out together (default
	// 1200; 4 to 1,000,000).
	N int
	// NegFrac is the fraction without a nodule, labelled benign (default
	// 0.2; (0, 0.9]).
	NegFrac float64
	// Generator is GeneratorPhantom (default) or GeneratorSynth.
	Generator string
}

// Config configures Run. Zero fields take the documented defaults, which
// are `make model`'s settings; Validate states every range.
type Config struct {
	// Out is the model file to write (atomically); "" writes none. Its
	// folder must exist; Run checks that it can be written before training.
	Out string
	// Source is classify.SourcePhantom (default) or classify.SourceLUNA16.
	Source string
	// Phantom configures synthetic data; LUNA configures LUNA16 data.
	Phantom PhantomData
	LUNA    LUNAOptions
	// Arch is the network (default 32³ input, conv 8-16-32, no hidden layer).
	Arch nn.Arch
	// Patch is the patch sampling (default classify.DefaultPatchSpec; its
	// Size follows Arch.Size).
	Patch classify.PatchSpec
	// Seed drives the data, split, initialisation, batch order and
	// augmentation.
	Seed uint64
	// Epochs is the most passes over the training set (default 10; 1 to
	// 10,000); Patience stops after that many epochs without a better
	// held-out AUC (default 3; 1 to 10,000).
	Epochs, Patience int
	// BatchSize is the mini-batch size (default 32; 1 to 1024).
	BatchSize int
	// LR is Adam's learning rate (default 0.002; (0, 1]); WeightDecay its
	// L2 coefficient ([0, 1]).
	LR, WeightDecay float64
	// ValFrac is the held-out fraction of each class (default 0.2; (0, 0.9]).
	ValFrac float64
	// NoAugment turns off flips, axial quarter turns and shifts.
	NoAugment bool
	// MaxShiftMM bounds the random shift in mm (default 2; (0, 16]).
	MaxShiftMM float64
	// GradParts is the number of fixed partial gradient sums (default
	// gorgop.DefaultGradParts; 1 to 64): the same seed, data and GradParts give
	// the same weights on any machine.
	GradParts int
	// Version is the lungctl version recorded in the card; Note free text
	// for it (e.g. how to regenerate the model).
	Version, Note string
	// Progress, when set, is called after every batch and each epoch.
	Progress func(Progress)
}

// Result is what Run produced.
type Result struct {
	// Model is the trained model; its card is filled in.
	Model *classify.Model
	// Epochs has one entry per epoch run.
	Epochs []EpochStats
	// Warnings says which input rows were not used and why (LUNA16 series
	// without a volume, annotations without a rating) and what could not be
	// measured (a held-out set of one class has no AUC).
	Warnings []string
	// FailedVolumes lists the LUNA16 volumes that could not be read; their
	// series were skipped. Run fills it in also when it fails with
	// ErrNoReadableVolume.
	FailedVolumes []VolumeFailure
}

// VolumeFailure is a volume that could not be read (missing, corrupt,
// over the memory budget): its series gave no examples.
type VolumeFailure struct {
	Series string // the series UID
	Path   string // the volume file
	Error  string // the reader's error, naming Path once
}

// volumeFailure records the error err of reading series uid's volume path.
// volio's errors name the file; one that does not gets it in front.
func volumeFailure(uid, path string, err error) VolumeFailure {
	msg := err.Error()
	if !strings.Contains(msg, path) {
		msg = path + ": " + msg
	}
	return VolumeFailure{Series: uid, Path: path, Error: msg}
}

// ErrConfig reports a Config value outside its documented range.
var ErrConfig = errors.New("train: invalid configuration")

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Source == "" {
		cfg.Source = classify.SourcePhantom
	}
	if cfg.Phantom.N == 0 {
		cfg.Phantom.N = 1200
	}
	if cfg.Phantom.NegFrac == 0 {
		cfg.Phantom.NegFrac = 0.2
	}
	if cfg.Phantom.Generator == "" {
		cfg.Phantom.Generator = GeneratorPhantom
	}
	if cfg.Arch.Size == 0 {
		cfg.Arch.Size = 32
	}
	if len(cfg.Arch.Channels) == 0 {
		cfg.Arch.Channels = []int{8, 16, 32}
	}
	if cfg.Patch.Size == 0 && cfg.Patch.SpacingMM == 0 {
		cfg.Patch = classify.DefaultPatchSpec
	}
	cfg.Patch.Size = cfg.Arch.Size
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&cfg.Epochs, 10)
	def(&cfg.Patience, 3)
	def(&cfg.BatchSize, 32)
	def(&cfg.GradParts, gorgop.DefaultGradParts)
	if cfg.LR == 0 {
		cfg.LR = 2e-3
	}
	if cfg.ValFrac == 0 {
		cfg.ValFrac = 0.2
	}
	if cfg.MaxShiftMM == 0 {
		cfg.MaxShiftMM = 2
	}
	return cfg
}

// MaxNoteBytes bounds Config.Note (bytes): with the rest of the card and
// the parameter list (a few KiB) it must fit classify.MaxHeaderBytes even
// when JSON writes every byte of it as a six-byte \u escape.
const MaxNoteBytes = 8 << 10

// Validate checks every field against its documented range (after
// defaults); errors wrap ErrConfig and name the field.
func (cfg Config) Validate() error {
	c := cfg.withDefaults()
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s = %v, want %s", ErrConfig, field, v, want)
	}
	in := func(x, lo, hi float64) bool { return x >= lo && x <= hi } // false for NaN
	switch {
	case c.Source != classify.SourcePhantom && c.Source != classify.SourceLUNA16:
		return bad("Source", c.Source, classify.SourcePhantom+" or "+classify.SourceLUNA16)
	case c.Phantom.N < 4 || c.Phantom.N > 1_000_000:
		return bad("Phantom.N", c.Phantom.N, "4 to 1000000")
	case !(c.Phantom.NegFrac > 0 && c.Phantom.NegFrac <= 0.9):
		return bad("Phantom.NegFrac", c.Phantom.NegFrac, "(0, 0.9]")
	case c.Phantom.Generator != GeneratorPhantom && c.Phantom.Generator != GeneratorSynth:
		return bad("Phantom.Generator", c.Phantom.Generator, GeneratorPhantom+" or "+GeneratorSynth)
	case c.Epochs < 1 || c.Epochs > 10_000:
		return bad("Epochs", c.Epochs, "1 to 10000")
	case c.Patience < 1 || c.Patience > 10_000:
		return bad("Patience", c.Patience, "1 to 10000")
	case c.BatchSize < 1 || c.BatchSize > 1024:
		return bad("BatchSize", c.BatchSize, "1 to 1024")
	case !(c.LR > 0 && c.LR <= 1):
		return bad("LR", c.LR, "(0, 1]")
	case !in(c.WeightDecay, 0, 1):
		return bad("WeightDecay", c.WeightDecay, "[0, 1]")
	case !(c.ValFrac > 0 && c.ValFrac <= 0.9):
		return bad("ValFrac", c.ValFrac, "(0, 0.9]")
	case !(c.MaxShiftMM > 0 && c.MaxShiftMM <= 16):
		return bad("MaxShiftMM", c.MaxShiftMM, "(0, 16]")
	case c.GradParts < 1 || c.GradParts > 64:
		return bad("GradParts", c.GradParts, "1 to 64")
	case len(c.Note) > MaxNoteBytes:
		// The card must fit the model header (classify.MaxHeaderBytes):
		// found after training, the file could not be written.
		return bad("Note", fmt.Sprintf("%d bytes", len(c.Note)), fmt.Sprintf("at most %d bytes", MaxNoteBytes))
	}
	if err := c.Arch.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !in(c.Patch.SpacingMM, 0.1, 10) || !(c.Patch.Norm.MaxHU > c.Patch.Norm.MinHU) {
		return bad("Patch", c.Patch, "spacing 0.1 to 10 mm and MaxHU > MinHU")
	}
	if c.Source == classify.SourceLUNA16 {
		return c.LUNA.validate()
	}
	return nil
}

// reachMM is how far from the patch centre (mm, along each patch axis)
// training samples can reach: half the patch (a flip or quarter turn maps
// the first sample, −Size/2, to +Size/2) plus the largest shift.
func (cfg Config) reachMM() float64 {
	r := float64(cfg.Patch.Size/2) * cfg.Patch.SpacingMM
	if !cfg.NoAugment {
		r += cfg.MaxShiftMM
	}
	return r
}

// phantomSize is the side (1 mm voxels) of the rendered phantom patches:
// every sample within reachMM of the centre must have both trilinear
// neighbours inside, on phantom.PatchGrid (centred) and on synthPatch's
// grid (centre voxel at world 0, one voxel fewer on the + side). For the
// default 32³ patch and ±2 mm shifts it is 38.
func (cfg Config) phantomSize() int { return 2*int(math.Ceil(cfg.reachMM())) + 2 }

// Run trains a model as cfg says and, when cfg.Out is set, writes it with
// its card. It checks cfg first (errors wrap ErrConfig), then, before any
// data is read, that cfg.Out can be written (see checkOut: its folder must
// exist; a folder or a symbolic link to a file is refused), and stops with
// ctx's error when ctx is done.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	if cfg.Out != "" {
		if err := checkOut(cfg.Out); err != nil {
			return Result{}, err
		}
	}
	var (
		ex   []example
		data classify.TrainingData
		res  Result
		err  error
	)
	switch cfg.Source {
	case classify.SourceLUNA16:
		opt := cfg.LUNA
		opt.Seed = cfg.Seed
		if opt.CropMM == 0 {
			opt.CropMM = cfg.reachMM() + 1
		}
		var ld lunaData
		if ld, err = loadLUNA(ctx, opt); err != nil {
			return Result{FailedVolumes: ld.failed}, err
		}
		ex, res.Warnings, res.FailedVolumes = ld.examples, ld.skipped, ld.failed
		data = classify.TrainingData{Source: classify.SourceLUNA16, Tables: ld.tables, Scans: ld.scans,
			ScansFailed: len(ld.failed), Description: ld.describe(opt)}
	default:
		ex, data = phantomData(&cfg)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	tr, va := split(ex, cfg.ValFrac, cfg.Seed)
	data.Train, data.HeldOut = countClasses(tr), countClasses(va)
	if h := data.HeldOut; h.Malignant == 0 || h.Benign == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the held-out set has %d malignant and %d benign examples "+
			"(a class with fewer than 2 examples stays in training): no held-out AUC; the held-out loss picks the epoch",
			h.Malignant, h.Benign))
	}
	m, fr, err := fit(ctx, tr, va, &cfg)
	if err != nil {
		return Result{}, err
	}
	res.Model, res.Epochs = m, fr.stats
	card := cfg.card(data, fr)
	m.Header.Card = &card
	if cfg.Out != "" {
		if err := m.Save(cfg.Out); err != nil {
			return Result{}, fmt.Errorf("train: %w", err)
		}
	}
	return res, nil
}

// phantomData renders cfg's synthetic examples and describes them.
func phantomData(cfg *Config) ([]example, classify.TrainingData) {
	gen, name := patchFunc(phantomPatch), "internal/phantom.Patch"
	if cfg.Phantom.Generator == GeneratorSynth {
		gen, name = synthPatch, "classify/train's own nodule generator"
	}
	size := cfg.phantomSize()
	ex := phantomExamples(gen, cfg.Phantom.N, int64(cfg.Seed), size, cfg.Phantom.NegFrac)
	return ex, classify.TrainingData{Source: classify.SourcePhantom, Description: fmt.Sprintf(
		"synthetic %s patches (%d³ at 1 mm): n=%d, seed %d, %.0f%% without a nodule, the rest 5 kinds of 3-30 mm; "+
			"malignant = lobulated or spiculated >= 8 mm, or any non-calcified >= 15 mm",
		name, size, cfg.Phantom.N, cfg.Seed, 100*cfg.Phantom.NegFrac)}
}

// card fills in the model card of a finished run.
func (cfg *Config) card(data classify.TrainingData, fr fitResult) classify.Card {
	domain := classify.DomainPhantom
	if data.Source == classify.SourceLUNA16 {
		domain = classify.DomainPatients
	}
	aug := "none"
	if !cfg.NoAugment {
		aug = fmt.Sprintf("flips, axial quarter turns, shifts up to %g mm", cfg.MaxShiftMM)
	}
	version := cfg.Version
	if version == "" {
		version = "unknown"
	}
	return classify.Card{
		Domain: domain,
		Data:   data,
		Date:   time.Now().UTC().Format(time.RFC3339),
		Metrics: classify.Metrics{HeldOutAUC: fr.best.ValAUC, HeldOutLoss: fr.best.ValLoss, TrainLoss: fr.best.TrainLoss,
			BestEpoch: fr.best.Epoch, Epochs: len(fr.stats)},
		Architecture:   classify.DescribeArch(cfg.Arch),
		LungctlVersion: version,
		Training: classify.Hyper{Seed: cfg.Seed, BatchSize: cfg.BatchSize, LR: cfg.LR, WeightDecay: cfg.WeightDecay,
			GradParts: cfg.GradParts, Augment: aug, ValFrac: cfg.ValFrac},
		Note: strings.TrimSpace(cfg.Note),
	}
}
