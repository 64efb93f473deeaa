package warn

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestJSON(t *testing.T) {
	ws := []Warning{New(GantryTilt, "", "gantry tilt 18.5°"), New(SkippedNotDICOM, "/a/notes.txt", "skipped non-DICOM file /a/notes.txt")}
	b, err := json.Marshal(ws)
	if err != nil {
		t.Fatal(err)
	}
	var back []Warning
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 2 || back[1] != ws[1] || back[0] != ws[0] {
		t.Fatalf("round trip %s → %+v %v", b, back, err)
	}
	// The provenance format before codes: plain strings.
	if err := json.Unmarshal([]byte(`["uneven slice spacing"]`), &back); err != nil || back[0].Message != "uneven slice spacing" || back[0].Code != "" {
		t.Fatalf("plain string: %+v %v", back, err)
	}
	if s := New(Assumed, "/x.dcm", "no PixelSpacing, assuming 1 mm").String(); s != "/x.dcm: no PixelSpacing, assuming 1 mm" {
		t.Errorf("String %q", s)
	}
	if got := Strings(ws); got[1] != "skipped non-DICOM file /a/notes.txt" {
		t.Errorf("Strings %q", got)
	}
}

// TestFold: 100,000 skipped files become one warning with their count and
// the next few names, where the first stood; codes seen at most FoldAfter
// times stay as they were, in order; the count survives JSON.
func TestFold(t *testing.T) {
	ws := []Warning{New(GantryTilt, "", "tilt")}
	for i := 0; i < 100000; i++ {
		f := fmt.Sprintf("/d/f%d", i)
		ws = append(ws, New(SkippedNotDICOM, f, "skipped non-DICOM file "+f))
		if i < FoldAfter {
			ws = append(ws, New(DuplicateSlice, fmt.Sprint(i), "dup"))
		}
	}
	got := Fold(ws)
	if len(got) != 2+FoldAfter || got[0].Code != GantryTilt || got[1].Code != SkippedNotDICOM || got[2].Code != DuplicateSlice || got[len(got)-1].File != fmt.Sprint(FoldAfter-1) {
		t.Fatalf("folded to %d warnings: %+v ...", len(got), got[:3])
	}
	f := got[1]
	if f.File != "/d/f0" || f.Count != 100000 || f.N() != 100000 ||
		f.Message != "skipped non-DICOM file /d/f0 (100000 skipped_not_dicom warnings in all; the next: /d/f1, /d/f2, /d/f3)" {
		t.Errorf("folded warning %+v", f)
	}
	b, err := json.Marshal(got)
	if err != nil || len(b) > 4096 {
		t.Fatalf("%d bytes of JSON, %v", len(b), err)
	}
	var back []Warning
	if err := json.Unmarshal(b, &back); err != nil || back[1] != f {
		t.Errorf("round trip %+v %v", back[1], err)
	}
	// Folding a folded warning with FoldAfter more adds up their counts.
	more := append([]Warning(nil), got...)
	for i := 0; i < FoldAfter; i++ {
		more = append(more, New(SkippedNotDICOM, fmt.Sprint("/e", i), "x"))
	}
	if again := Fold(more); len(again) != len(got) || again[1].Count != 100000+FoldAfter {
		t.Errorf("folded again: %d warnings, count %d", len(again), again[1].Count)
	}
	few := ws[:1+2*FoldAfter]
	if out := Fold(few); len(out) != len(few) || &out[0] != &few[0] {
		t.Errorf("%d warnings of %d codes changed", len(few), 3)
	}
}

// TestFoldLeavesUncoded: warnings without a code (older records' plain
// strings) are distinct findings and are never folded together, and a file
// is named once among the next ones.
func TestFoldLeavesUncoded(t *testing.T) {
	var ws []Warning
	for i := 0; i < 2*FoldAfter; i++ {
		ws = append(ws, Warning{Message: fmt.Sprint("finding ", i)})
	}
	for i := 0; i < 2*FoldAfter; i++ {
		ws = append(ws, New(SkippedNotDICOM, "/d/same", "skipped"))
	}
	got := Fold(ws)
	if len(got) != 2*FoldAfter+1 {
		t.Fatalf("folded to %d warnings, want %d: %+v", len(got), 2*FoldAfter+1, got)
	}
	if m := got[len(got)-1].Message; m != fmt.Sprintf("skipped (%d skipped_not_dicom warnings in all)", 2*FoldAfter) {
		t.Errorf("folded message %q", m)
	}
}
