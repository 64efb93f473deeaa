package testfs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
)

// TestSetBudget: the budget set holds for the rest of the test (a subtest
// here) and the one found before is back once it ends.
func TestSetBudget(t *testing.T) {
	before := membudget.Limit()
	t.Run("set", func(t *testing.T) {
		SetBudget(t, 12345)
		if got := membudget.Limit(); got != 12345 {
			t.Fatalf("budget during the test: %d, want 12345", got)
		}
	})
	if got := membudget.Limit(); got != before {
		t.Fatalf("budget after the test: %d, want %d back", got, before)
	}
}

// TestTooBig: only an error wrapping membudget.ErrTooBig whose message
// holds every part given counts.
func TestTooBig(t *testing.T) {
	SetBudget(t, 1<<20)
	over := membudget.Check("rows of a.csv: line 7", 2<<20)
	if over == nil {
		t.Fatal("2 MiB under a 1 MiB budget passed the check")
	}
	wrapped := fmt.Errorf("reading: %w", over)
	for _, c := range []struct {
		err   error
		parts []string
		want  bool
	}{
		{over, nil, true},
		{wrapped, []string{"a.csv: line 7", "reading"}, true},
		{over, []string{"a.csv: line 7", "b.csv"}, false},
		{nil, nil, false},
		{errors.New("a.csv: line 7: too big"), []string{"a.csv"}, false},
		{membudget.Check("fits", 1), nil, false},
	} {
		if got := TooBig(c.err, c.parts...); got != c.want {
			t.Errorf("TooBig(%v, %q) = %v, want %v", c.err, c.parts, got, c.want)
		}
	}
}
