package eval

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
)

// TestTablesRefuseRowsPastTheBudget: annotations, truth and scan-list
// tables of many tiny rows (100 MB of annotations took 4.8 GB) are refused,
// naming the file and line, once the rows held would pass the memory
// budget.
func TestTablesRefuseRowsPastTheBudget(t *testing.T) {
	testfs.SetBudget(t, 1<<20)
	ann := "seriesuid,coordX,coordY,coordZ,diameter_mm\n" + strings.Repeat("x,0,0,0,5\n", 20000)
	check := func(what string, err error) {
		t.Helper()
		if !testfs.TooBig(err, "big.csv: line ") {
			t.Errorf("%s: 20000 rows under a 1 MiB budget: %v", what, err)
		}
	}
	_, err := ReadAnnotationsFrom(strings.NewReader(ann), "big.csv")
	check("annotations", err)
	_, err = ReadTruthFrom(strings.NewReader(ann), "big.csv")
	check("truth", err)
	var ids strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&ids, "1.2.%d\n", i)
	}
	p := filepath.Join(t.TempDir(), "big.csv")
	testfs.WriteFile(t, p, []byte(ids.String()))
	_, err = ReadSeriesUIDs(p)
	check("series uids", err)
}
