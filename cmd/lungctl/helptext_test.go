package main

import (
	"os"
	"path"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/pipeline"
)

// TestHelpTextsMatchTheCode: the help texts say what the commands do: the
// default scorer is Brock, --order malignancy weighs by the detection
// score, the eval example's label map is the file run --export writes, the
// detect example gives the sklearn script lungctl's bandwidth; and the
// README's command table has a row for every subcommand (model was
// missing).
func TestHelpTextsMatchTheCode(t *testing.T) {
	root := lungctl(t, "--help").stdout
	if strings.Contains(root, "classify    3-D CNN") || !strings.Contains(root, "Brock by default") {
		t.Errorf("lungctl --help does not say classify's default scorer is Brock:\n%s", root)
	}
	if h := lungctl(t, "snapshot", "--help").stdout; !strings.Contains(h, "malignancy x detection\nscore") {
		t.Errorf("snapshot --help does not say --order malignancy ranks by malignancy x detection score:\n%s", h)
	}
	_, lab, _, _ := pipeline.ExportNames("LIDC-IDRI-0001")
	if h := lungctl(t, "eval", "--help").stdout; !strings.Contains(h, "--labels "+path.Join("out", "LIDC-IDRI-0001", lab)) ||
		!strings.Contains(h, "lungctl run ../shared/data/lidc-idri-0001 -o out/ --export") {
		t.Errorf("eval --help: the --labels example is not the label map run --export writes (%s):\n%s", lab, h)
	}
	if h := lungctl(t, "detect", "--help").stdout; !strings.Contains(h, "meanshift_sklearn.py --points pts.npy --bandwidth 4 ") {
		t.Errorf("detect --help: the sklearn example lacks --bandwidth 4 (the script's default is 5):\n%s", h)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range subcommandNames(root) {
		if name == "help" || name == "completion" { // cobra's, and a paragraph of its own
			continue
		}
		if !strings.Contains(string(readme), "\n| `lungctl "+name) {
			t.Errorf("README's command table has no row for lungctl %s", name)
		}
	}
}
