package risk

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
)

// TestClinicalRefusesRowsPastTheBudget: a --clinical file of many tiny
// rows (5 million, 50 MB, took 900 MB and 13 s) is refused, naming the
// file and line, once the rows held would pass the memory budget.
func TestClinicalRefusesRowsPastTheBudget(t *testing.T) {
	testfs.SetBudget(t, 1<<20)
	var b strings.Builder
	b.WriteString("id,age,sex,family_history,emphysema\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "p%d,,,,\n", i)
	}
	_, err := ParseClinicalCSV(strings.NewReader(b.String()), "big.csv")
	if !testfs.TooBig(err, "clinical: big.csv: line ") {
		t.Fatalf("20000 rows under a 1 MiB budget: %v", err)
	}
}
