package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/textsafe"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newModelCmd) }

func newModelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Inspect CNN model files (model card, sha256)",
		Long: `model inspects the malignancy model files that 'lungctl train' writes and
classify/run read with --model. Subcommands:

  info [FILE]  the model card and sha256 (the embedded default without FILE)`,
		Example: `  lungctl model info
  lungctl model info luna.lcnn --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("model: give a subcommand (info)")
		},
	}
	cmd.AddCommand(newModelInfoCmd())
	return cmd
}

// modelInfo is what 'lungctl model info --json' prints.
type modelInfo struct {
	File          string               `json:"file"`
	SHA256        string               `json:"sha256"`
	FormatVersion int                  `json:"format_version"`
	Arch          nn.Arch              `json:"arch"`
	Parameters    int                  `json:"parameters"`
	Patch         classify.PatchSpec   `json:"patch"`
	Card          classify.Card        `json:"card"`
	Legacy        *classify.Provenance `json:"legacy_training,omitempty"`
}

func newModelInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info [FILE]",
		Short: "Print a model's card and sha256 (the embedded default without FILE)",
		Long: `info prints a model file's card — the training data (phantoms or LUNA16, which
tables, examples per class), the date, held-out AUC and loss, the domain the
model is valid for ("phantom" or "patients"; "unknown" for files written
before cards existed), the architecture and the lungctl version that trained
it — and the file's sha256, the value run records in done.json. Without FILE
it describes the embedded default model.`,
		Example: `  lungctl model info
  lungctl model info luna.lcnn --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var m *classify.Model
			var err error
			name := "embedded default (internal/classify/model/" + classify.DefaultModelName + ")"
			if len(args) == 1 {
				name = args[0]
				m, err = classify.Load(name)
			} else {
				m, err = classify.Default()
			}
			if err != nil {
				return err
			}
			info := modelInfo{File: name, SHA256: m.SHA256(), FormatVersion: m.Header.FormatVersion, Arch: m.Net.Arch,
				Parameters: m.Net.NumParams(), Patch: m.Patch, Card: m.Card(), Legacy: m.Header.Training}
			if asJSON {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(info); err != nil {
					return err
				}
				_, err := cmd.OutOrStdout().Write(jsonTerminalSafe(buf.Bytes()))
				return err
			}
			return printModelInfo(cmd.OutOrStdout(), info)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

// jsonTerminalSafe rewrites the characters of encoded JSON that
// encoding/json leaves raw but a terminal may act on (DEL, C1 controls,
// Unicode format characters such as bidirectional overrides; see package
// textsafe) as \u escapes. Outside strings JSON is ASCII and printable, so
// they can only occur inside strings, where the escape is the same value.
// encoding/json itself escapes the other control characters, U+2028 and
// U+2029, and replaces invalid UTF-8.
func jsonTerminalSafe(b []byte) []byte {
	if textsafe.Clean(strings.ReplaceAll(string(b), "\n", "")) {
		return b
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if r == '\n' || textsafe.Clean(string(r)) {
			out.WriteRune(r)
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		} else {
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.Bytes()
}

// printModelInfo prints in as aligned text. Every value, file name and
// card text included, is escaped (package textsafe): a card is read from
// the file and may hold control characters meant for the terminal.
func printModelInfo(w io.Writer, in modelInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := in.Card
	pr := newPrinter(tw)
	row := func(k, format string, a ...any) {
		pr.Printf("%s\t%s\n", k, textsafe.Escape(fmt.Sprintf(format, a...)))
	}
	row("file:", "%s", in.File)
	row("sha256:", "%s", in.SHA256)
	domain := c.Domain
	switch c.Domain {
	case classify.DomainPhantom:
		domain += " (trained on synthetic phantoms only: valid for phantoms, not for patients)"
	case classify.DomainPatients:
		domain += " (trained on patients' CT)"
	case classify.DomainUnknown:
		domain += " (the file has no model card)"
	}
	row("domain:", "%s", domain)
	// the network as the header builds it; a card's own description is
	// free text and is shown only where it says something else
	arch := classify.DescribeArch(in.Arch)
	row("architecture:", "%s", arch)
	if c.Architecture != "" && c.Architecture != arch {
		row("  card says:", "%s", c.Architecture)
	}
	p := in.Patch
	row("patch:", "%d³ samples %g mm apart, HU [%g, %g] → [0, 1], %g HU outside the scan",
		p.Size, p.SpacingMM, p.Norm.MinHU, p.Norm.MaxHU, p.Norm.OutsideHU)
	if c.Domain != classify.DomainUnknown {
		d := c.Data
		row("training data:", "%s: %s", d.Source, d.Description)
		for _, t := range d.Tables {
			row("  table:", "%s %s (%d rows used, sha256 %s)", t.Role, t.File, t.Rows, t.SHA256)
		}
		if d.Scans > 0 {
			row("  scans:", "%d", d.Scans)
		}
		if d.ScansFailed > 0 {
			row("  unreadable:", "%d volumes (their series were skipped)", d.ScansFailed)
		}
		row("  train:", "%d examples: %d malignant, %d benign", d.Train.Total(), d.Train.Malignant, d.Train.Benign)
		row("  held out:", "%d examples: %d malignant, %d benign", d.HeldOut.Total(), d.HeldOut.Malignant, d.HeldOut.Benign)
		mt := c.Metrics
		aucText := fmt.Sprintf("%.4f", mt.HeldOutAUC)
		if math.IsNaN(mt.HeldOutAUC) {
			aucText = "n/a (the held-out set has one class)"
		}
		trainLoss := "not recorded"
		if mt.TrainLoss > 0 {
			trainLoss = fmt.Sprintf("%.4f", mt.TrainLoss)
		}
		row("metrics:", "held-out AUC %s, held-out loss %.4f (BCE, nats), train loss %s; best epoch %d of %d",
			aucText, mt.HeldOutLoss, trainLoss, mt.BestEpoch, mt.Epochs)
		h := c.Training
		row("training:", "seed %d, batch %d, Adam lr %g, weight decay %g, %d gradient parts, held-out fraction %g, augmentation: %s",
			h.Seed, h.BatchSize, h.LR, h.WeightDecay, h.GradParts, h.ValFrac, h.Augment)
		row("date:", "%s", c.Date)
		row("lungctl version:", "%s", c.LungctlVersion)
		if c.Note != "" {
			row("note:", "%s", c.Note)
		}
	} else if l := in.Legacy; l != nil {
		row("legacy provenance:", "%s; seed %d, best epoch %d of %d, held-out AUC %.4f, loss %.4f; %d training, %d held-out examples; %s",
			l.DataSource, l.Seed, l.BestEpoch, l.Epochs, l.ValAUC, l.ValLoss, l.TrainSamples, l.ValSamples, l.Date)
	}
	row("format version:", "%d", in.FormatVersion)
	return firstErr(pr.Err(), tw.Flush())
}
