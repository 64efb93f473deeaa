package candidate

import (
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/testfs"
)

// TestReadRefusesRowsPastTheBudget: a candidates file of many tiny rows
// (8 bytes of text, a 240-byte Candidate each; 160 MB of them took 14.7 GB)
// is refused, naming the file and line, once the candidates held would pass
// the memory budget; the same file is read under a larger budget.
func TestReadRefusesRowsPastTheBudget(t *testing.T) {
	in := "seriesuid,coordX,coordY,coordZ\n" + strings.Repeat("x,0,0,0\n", 20000)
	testfs.SetBudget(t, 1<<20)
	_, err := Read(strings.NewReader(in), "many.csv")
	if !testfs.TooBig(err, "many.csv: line ") {
		t.Fatalf("20000 rows (9.6 MB held) under a 1 MiB budget: %v", err)
	}
	membudget.Set(64 << 20)
	if cs, err := Read(strings.NewReader(in), "many.csv"); err != nil || len(cs) != 20000 {
		t.Fatalf("under 64 MiB: %d rows, %v", len(cs), err)
	}
}
