package risk

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
)

// TestClinicalRefusesRowsPastTheBudget: a --clinical file of many tiny
// rows (5 million, 50 MB, took 900 MB and 13 s) is refused, naming the
// file and line, once the rows held would pass the memory budget.
func TestClinicalRefusesRowsPastTheBudget(t *testing.T) {
	old := membudget.Limit()
	membudget.Set(1 << 20)
	t.Cleanup(func() { membudget.Set(old) })
	var b strings.Builder
	b.WriteString("id,age,sex,family_history,emphysema\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "p%d,,,,\n", i)
	}
	_, err := ParseClinicalCSV(strings.NewReader(b.String()), "big.csv")
	if !errors.Is(err, membudget.ErrTooBig) || !strings.Contains(err.Error(), "clinical: big.csv: line ") {
		t.Fatalf("20000 rows under a 1 MiB budget: %v", err)
	}
}
