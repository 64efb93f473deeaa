package classify

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

// Model domains: where a model's scores mean something.
const (
	// DomainPhantom marks a model trained on synthetic phantoms only: it has
	// learned the phantom generator's label rule, not real pathology.
	DomainPhantom = "phantom"
	// DomainPatients marks a model trained on patients' CT (LUNA16/LIDC).
	DomainPatients = "patients"
	// DomainUnknown is the domain of a model file without a card.
	DomainUnknown = "unknown"
)

// Training data sources recorded in a card.
const (
	SourcePhantom = "phantom"
	SourceLUNA16  = "luna16"
)

// Card is a model's card, stored in its file: what it was trained on, how
// it did on held-out data, where it is valid, its architecture and the
// lungctl version that trained it. Files written before cards existed load
// with UnknownCard.
type Card struct {
	// Domain is DomainPhantom, DomainPatients or DomainUnknown.
	Domain string `json:"domain"`
	// Data describes the training examples.
	Data TrainingData `json:"data"`
	// Date is the UTC time training ended, RFC 3339.
	Date string `json:"date,omitempty"`
	// Metrics are measured on the held-out split with the kept weights.
	Metrics Metrics `json:"metrics"`
	// Architecture describes the network in one line (see DescribeArch).
	Architecture string `json:"architecture,omitempty"`
	// LungctlVersion is the version of lungctl that trained the model.
	LungctlVersion string `json:"lungctl_version,omitempty"`
	// Training records the optimisation settings.
	Training Hyper `json:"training"`
	// Note is free text, e.g. how to regenerate the model.
	Note string `json:"note,omitempty"`
}

// TrainingData says where the training examples came from and how many
// of each class were used.
type TrainingData struct {
	// Source is SourcePhantom or SourceLUNA16 (empty when unknown).
	Source string `json:"source,omitempty"`
	// Description names the generator and its settings, or the tables.
	Description string `json:"description,omitempty"`
	// Tables lists the CSV files read (LUNA16 annotations and candidates).
	Tables []Table `json:"tables,omitempty"`
	// Scans is the number of CT volumes examples were cut from (LUNA16).
	Scans int `json:"scans,omitempty"`
	// ScansFailed counts the volumes that could not be read: their series
	// were skipped (LUNA16).
	ScansFailed int `json:"scans_failed,omitempty"`
	// Train and HeldOut count the examples of each split by class.
	Train   ClassCounts `json:"train"`
	HeldOut ClassCounts `json:"held_out"`
}

// Table is one CSV file a model was trained from.
type Table struct {
	// Role is "annotations" or "candidates".
	Role string `json:"role"`
	// File is the base name of the file; SHA256 its content's hash (hex).
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// Rows is the number of rows that became examples.
	Rows int `json:"rows"`
}

// ClassCounts counts examples by label.
type ClassCounts struct {
	Malignant int `json:"malignant"`
	Benign    int `json:"benign"`
}

// Total is Malignant + Benign.
func (c ClassCounts) Total() int { return c.Malignant + c.Benign }

// Metrics are a model's held-out results.
type Metrics struct {
	// HeldOutAUC is the ROC AUC of the kept weights on the held-out split
	// (NaN, stored as null, when that split has one class only);
	// HeldOutLoss their mean binary cross-entropy (nats); TrainLoss the
	// mean training BCE of the kept epoch.
	HeldOutAUC  float64 `json:"held_out_auc"`
	HeldOutLoss float64 `json:"held_out_loss"`
	TrainLoss   float64 `json:"train_loss,omitempty"`
	// BestEpoch is the 1-based epoch whose weights were kept; Epochs the
	// number of epochs run.
	BestEpoch int `json:"best_epoch"`
	Epochs    int `json:"epochs"`
}

// Hyper are the settings a model was trained with.
type Hyper struct {
	Seed      uint64  `json:"seed"`
	BatchSize int     `json:"batch_size,omitempty"`
	LR        float64 `json:"learning_rate,omitempty"`
	// WeightDecay is Adam's L2 coefficient.
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// GradParts is the number of fixed partial gradient sums (see nn.Workspace).
	GradParts int `json:"grad_parts,omitempty"`
	// Augment describes the augmentation ("none" when off).
	Augment string `json:"augment,omitempty"`
	// ValFrac is the held-out fraction of each class.
	ValFrac float64 `json:"held_out_fraction,omitempty"`
}

// UnknownCard is the card of a model file that carries none.
func UnknownCard() Card { return Card{Domain: DomainUnknown} }

// DescribeArch describes a network in one line, e.g. "3-D CNN, 32³ input:
// conv3³ 8-16-32 (ReLU, max-pool 2³), linear → 1 logit; 19601 parameters".
func DescribeArch(a nn.Arch) string {
	ch := make([]string, len(a.Channels))
	for i, c := range a.Channels {
		ch[i] = fmt.Sprint(c)
	}
	head := "linear → 1 logit"
	if a.Hidden > 0 {
		head = fmt.Sprintf("linear %d (ReLU), linear → 1 logit", a.Hidden)
	}
	return fmt.Sprintf("3-D CNN, %d³ input: conv3³ %s (ReLU, max-pool 2³), %s; %d parameters",
		a.Size, strings.Join(ch, "-"), head, a.NumParams())
}

// metricsJSON is Metrics with the AUC as a pointer, so that an undefined
// (NaN) AUC is stored as null: JSON has no NaN.
type metricsJSON struct {
	HeldOutAUC  *float64 `json:"held_out_auc"`
	HeldOutLoss float64  `json:"held_out_loss"`
	TrainLoss   float64  `json:"train_loss,omitempty"`
	BestEpoch   int      `json:"best_epoch"`
	Epochs      int      `json:"epochs"`
}

// MarshalJSON writes a NaN HeldOutAUC as null.
func (m Metrics) MarshalJSON() ([]byte, error) {
	j := metricsJSON{HeldOutLoss: m.HeldOutLoss, TrainLoss: m.TrainLoss, BestEpoch: m.BestEpoch, Epochs: m.Epochs}
	if !math.IsNaN(m.HeldOutAUC) {
		j.HeldOutAUC = &m.HeldOutAUC
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a null HeldOutAUC as NaN.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var j metricsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Metrics{HeldOutAUC: math.NaN(), HeldOutLoss: j.HeldOutLoss, TrainLoss: j.TrainLoss, BestEpoch: j.BestEpoch, Epochs: j.Epochs}
	if j.HeldOutAUC != nil {
		m.HeldOutAUC = *j.HeldOutAUC
	}
	return nil
}
