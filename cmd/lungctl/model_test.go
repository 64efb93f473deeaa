package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/nn"
)

// TestModelInfo prints the embedded default's card (domain phantom) as text
// and JSON, with the sha256 of the embedded file, and a file written before
// cards existed as domain unknown.
func TestModelInfo(t *testing.T) {
	r := lungctl(t, "model", "info")
	if r.code != exitOK {
		t.Fatalf("lungctl model info: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "classify", "model", "default.lcnn"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	want := hex.EncodeToString(sum[:])
	for _, s := range []string{want, "domain:", "phantom (trained on synthetic phantoms only", "held-out AUC", "960 examples"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("model info does not show %q:\n%s", s, r.stdout)
		}
	}
	r = lungctl(t, "model", "info", "--json")
	var info struct {
		SHA256 string `json:"sha256"`
		Card   struct {
			Domain string `json:"domain"`
			Data   struct {
				Train struct{ Malignant, Benign int } `json:"train"`
			} `json:"data"`
		} `json:"card"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || r.code != exitOK {
		t.Fatalf("model info --json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if info.SHA256 != want || info.Card.Domain != "phantom" || info.Card.Data.Train.Malignant+info.Card.Data.Train.Benign != 960 {
		t.Errorf("model info --json: %+v", info)
	}
	old := filepath.Join("..", "..", "internal", "classify", "testdata", "default-v1-nocard.lcnn")
	r = lungctl(t, "model", "info", old)
	if r.code != exitOK || !strings.Contains(r.stdout, "unknown (the file has no model card)") {
		t.Errorf("model info on a file without a card: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := lungctl(t, "model", "info", filepath.Join(t.TempDir(), "missing.lcnn")); r.code != exitFailure {
		t.Errorf("model info on a missing file: exit %d, want %d", r.code, exitFailure)
	}
}

// TestNumericFlagRanges checks that every numeric flag of train, classify
// and model rejects out-of-range and NaN values with exit 2 before any work,
// and that the help text states the ranges.
func TestNumericFlagRanges(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.lcnn")
	bad := map[string][]string{
		"n": {"3", "NaN"}, "neg": {"0", "0.95", "NaN"}, "malignant-min": {"0.5", "6", "NaN"},
		"negatives-per-scan": {"-2"}, "epochs": {"0", "10001"}, "batch": {"0", "1025"}, "lr": {"0", "2", "NaN", "Inf"},
		"weight-decay": {"-0.1", "NaN"}, "patience": {"0"}, "val": {"0", "0.91", "NaN"}, "max-shift": {"0", "17", "NaN"},
		"grad-parts": {"0", "65"}, "seed": {"-1"},
	}
	for flag, vals := range bad {
		for _, v := range vals {
			r := lungctl(t, "train", "-o", out, "--"+flag, v)
			if r.code != exitUsage || !strings.Contains(r.stderr, flag) {
				t.Errorf("train --%s %s: exit %d, want %d naming the flag; stderr:\n%s", flag, v, r.code, exitUsage, r.stderr)
			}
		}
	}
	for _, args := range [][]string{
		{"train", "-o", out, "--channels", "8,0"},
		{"train", "-o", out, "--channels", "1,1,1,1,1,1,1,1,1"},
		{"classify", "scan.nii.gz", "--candidates", "c.csv", "--top-k", "-1"},
		{"classify", "scan.nii.gz", "--candidates", "c.csv", "--top-k", "1001"},
		{"classify", "scan.nii.gz", "--candidates", "c.csv", "--leak", "1"},
		{"classify", "scan.nii.gz", "--candidates", "c.csv", "--leak", "NaN"},
		{"classify", "scan.nii.gz", "--candidates", "c.csv", "--spacing", "0"},
		{"classify", "scan.nii.gz", "--candidates", "c.csv", "--spacing", "NaN"},
		{"run", "in", "-o", dir, "--leak", "-0.5"},
	} {
		r := lungctl(t, args...)
		if r.code != exitUsage {
			t.Errorf("lungctl %s: exit %d, want %d; stderr:\n%s", strings.Join(args, " "), r.code, exitUsage, r.stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a rejected train command wrote a model")
	}
	r := lungctl(t, "train", "--help")
	for _, s := range []string{"(1 to 10000)", "(0 < x <= 1)", "(1 to 64)", "(0 < x <= 0.9)"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("train --help does not state the range %q", s)
		}
	}
	r = lungctl(t, "classify", "--help")
	if !strings.Contains(r.stdout, "(0 <= x < 1)") || !strings.Contains(r.stdout, "(0 to 1000)") {
		t.Errorf("classify --help does not state the --leak and --top-k ranges:\n%s", r.stdout)
	}
}

// TestTrainWritesCardedModel trains a tiny model on phantoms through the
// CLI and reads its card back.
func TestTrainWritesCardedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model (~10 s)")
	}
	out := filepath.Join(t.TempDir(), "tiny.lcnn")
	r := lungctl(t, "train", "-o", out, "--n", "40", "--channels", "2,2", "--epochs", "1", "--batch", "8", "--note", "cli test")
	if r.code != exitOK {
		t.Fatalf("train: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = lungctl(t, "model", "info", out)
	for _, s := range []string{"phantom (trained on synthetic phantoms only", "32 examples", "8 examples", "note:", "cli test", "conv3³ 2-2"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("model info of the trained model does not show %q:\n%s", s, r.stdout)
		}
	}
}

// TestModelInfoEscapesTheCard: card text (read from the file) reaches the
// terminal escaped, as text and as JSON, where JSON decodes back to the
// card's text; the architecture shown is the header's, and a card that
// says otherwise is shown as the card's claim.
func TestModelInfoEscapesTheCard(t *testing.T) {
	m, err := classify.NewModel(nn.Arch{Size: 8, Channels: []int{2}}, classify.PatchSpec{Size: 8, SpacingMM: 1, Norm: classify.DefaultNorm}, 1)
	if err != nil {
		t.Fatal(err)
	}
	domain := "patients\x1b[31mRED\n\rfake: line\u202e\u0085\x7f"
	m.Header.Card = &classify.Card{Domain: domain, Note: "bell\a", Architecture: "a 1-layer toy"}
	path := filepath.Join(t.TempDir(), "ctrl.lcnn")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	raw := []string{"\x1b", "\r", "\a", "\u202e", "\u0085", "\x7f", "\nfake"}
	r := lungctl(t, "model", "info", path)
	if r.code != exitOK {
		t.Fatalf("model info: exit %d\n%s", r.code, r.stderr)
	}
	for _, s := range raw {
		if strings.Contains(r.stdout, s) {
			t.Errorf("model info prints %q raw:\n%q", s, r.stdout)
		}
	}
	for _, s := range []string{`patients\x1b[31mRED\n\rfake: line\u202e\u0085\x7f`, `bell\x07`,
		"conv3³ 2 (ReLU", "card says:", "a 1-layer toy"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("model info does not show %q:\n%s", s, r.stdout)
		}
	}
	r = lungctl(t, "model", "info", path, "--json")
	for _, s := range raw {
		if strings.Contains(r.stdout, s) {
			t.Errorf("model info --json prints %q raw:\n%q", s, r.stdout)
		}
	}
	var info struct {
		Card classify.Card `json:"card"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || r.code != exitOK {
		t.Fatalf("model info --json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if info.Card.Domain != domain || info.Card.Note != "bell\a" {
		t.Errorf("model info --json: domain %q, note %q; want the card's text back", info.Card.Domain, info.Card.Note)
	}
}

// TestModelInfoRefusesSpecialFiles: a folder or a device such as /dev/zero
// (which model info once read without end) is refused at once by kind.
func TestModelInfoRefusesSpecialFiles(t *testing.T) {
	paths := map[string]string{t.TempDir(): "folder"}
	if st, err := os.Stat("/dev/zero"); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		paths["/dev/zero"] = "character device"
	}
	for p, kind := range paths {
		r := lungctl(t, "--max-memory", "256M", "model", "info", p)
		if r.code != exitFailure || !strings.Contains(r.stderr, p) || !strings.Contains(r.stderr, kind) || r.elapsed > 10*time.Second {
			t.Errorf("model info %s: exit %d after %v, want %d naming it and %q:\n%s", p, r.code, r.elapsed, exitFailure, kind, r.stderr)
		}
	}
}
