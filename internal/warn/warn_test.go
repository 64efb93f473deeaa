package warn

import (
	"encoding/json"
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
