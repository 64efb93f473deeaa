package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
)

// TestAppendSubmissionHostileIDs: ids with commas, quotes, line breaks or a
// leading formula character are written as proper (and formula-safe) CSV,
// so that the next append reads the file back; the same id replaces its
// row.
func TestAppendSubmissionHostileIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "submission.csv")
	ids := []string{"plain", "a,b", `say "hi"`, "two\nlines", "=cmd|' /C calc'!A0", "-12"}
	for i, id := range ids {
		if err := AppendSubmission(path, id, float64(i)/10); err != nil {
			t.Fatalf("append %q: %v", id, err)
		}
	}
	if err := AppendSubmission(path, "a,b", 0.9); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadSubmission(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ids) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(ids), rows)
	}
	for i, r := range rows {
		want := FormatCancer(float64(i) / 10)
		if r.ID == "a,b" {
			want = "0.900000"
		}
		if r.ID != ids[i] || r.Cancer != want {
			t.Errorf("row %d = %+v, want %q,%s", i, r, ids[i], want)
		}
	}
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && strings.ContainsAny(line[:1], "=+-@") {
			t.Errorf("line starts a formula: %q", line)
		}
	}
	for _, bad := range []struct {
		id string
		p  float64
	}{{"", 0.5}, {"x", 1.5}, {"x", -0.1}} {
		if AppendSubmission(path, bad.id, bad.p) == nil {
			t.Errorf("accepted id %q p %v", bad.id, bad.p)
		}
	}
	// A file that is not a submission is refused, not overwritten.
	other := filepath.Join(t.TempDir(), "other.csv")
	testfs.WriteFile(t, other, []byte("a,b\n1,2\n"))
	if err := AppendSubmission(other, "x", 0.5); err == nil {
		t.Error("appended to a file without id,cancer columns")
	}
}

// TestAppendSubmissionConcurrent: appends from many writers at once lose
// none (the folder lock serialises the read-modify-write).
func TestAppendSubmissionConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "submission.csv")
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := AppendSubmission(path, fmt.Sprintf("p%02d", i), 0.5); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rows, err := ReadSubmission(path)
	if err != nil || len(rows) != 16 {
		t.Fatalf("%d rows (%v), want 16", len(rows), err)
	}
}

// TestAppendSubmissionKeepsOtherColumns: a submission with a column besides
// id,cancer is refused, not rewritten without it.
func TestAppendSubmissionKeepsOtherColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "submission.csv")
	orig := []byte("id,cancer,note\nother,0.5,keep me\n")
	testfs.WriteFile(t, path, orig)
	err := AppendSubmission(path, "p1", 0.3)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "note") {
		t.Errorf("append to a file with a note column: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(orig) {
		t.Errorf("file changed to %q", b)
	}
}
