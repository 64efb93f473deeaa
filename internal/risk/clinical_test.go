package risk

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/csvio"
)

func TestParsePatientAge(t *testing.T) {
	cases := []struct {
		in    string
		years float64
		known bool
	}{
		{"062Y", 62, true},
		{"540M", 45, true},
		{"012W", 84 / 365.25, true},
		{"003D", 3 / 365.25, true},
		{"000Y", 0, true},
		{"062y", 62, true},
		{" 062Y ", 62, true},
		{"062Y\x00", 62, true},
		{"", 0, false},
		{"   ", 0, false},
	}
	for _, c := range cases {
		y, k, err := ParsePatientAge(c.in)
		if err != nil || k != c.known || math.Abs(y-c.years) > 1e-12 {
			t.Errorf("ParsePatientAge(%q) = %v, %v, %v; want %v, %v", c.in, y, k, err, c.years, c.known)
		}
	}
	for _, bad := range []string{"62Y", "0062Y", "062", "062X", "-62Y", "06.Y", "Y062", "abcd", "062 Y"} {
		if _, k, err := ParsePatientAge(bad); !errors.Is(err, ErrClinical) || k {
			t.Errorf("ParsePatientAge(%q): err %v known %v, want ErrClinical", bad, err, k)
		}
	}
}

func TestParsePatientSex(t *testing.T) {
	cases := map[string]Sex{"M": Male, "F": Female, "O": SexOther, "": SexUnknown, " f ": Female,
		"male": Male, "Female": Female, "other": SexOther, "M\x00": Male}
	for in, want := range cases {
		if got, err := ParsePatientSex(in); err != nil || got != want {
			t.Errorf("ParsePatientSex(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"X", "U", "mf", "1"} {
		if _, err := ParsePatientSex(bad); !errors.Is(err, ErrClinical) {
			t.Errorf("ParsePatientSex(%q): %v, want ErrClinical", bad, err)
		}
	}
}

func TestParseTri(t *testing.T) {
	cases := map[string]Tri{"1": Yes, "0": No, "yes": Yes, "NO": No, "True": Yes, "false": No,
		"y": Yes, "n": No, "": Unknown, "  ": Unknown}
	for in, want := range cases {
		if got, err := ParseTri(in); err != nil || got != want {
			t.Errorf("ParseTri(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"2", "maybe", "-1", "ja"} {
		if _, err := ParseTri(bad); !errors.Is(err, ErrClinical) {
			t.Errorf("ParseTri(%q): %v, want ErrClinical", bad, err)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Yes.String(), "yes"}, {No.String(), "no"}, {Unknown.String(), "unknown"}, {Tri(7).String(), "Tri(7)"},
		{Male.String(), "M"}, {Female.String(), "F"}, {SexOther.String(), "O"}, {SexUnknown.String(), ""},
		{Sex(9).String(), "Sex(9)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if Unknown.Known() || !Yes.Known() || !No.Known() {
		t.Error("Known")
	}
}

func TestParseClinicalCSV(t *testing.T) {
	// Columns out of order, an extra column, mixed spellings, empty cells,
	// a BOM and a blank line.
	in := "\ufeffSex,id,notes,Emphysema,age,family_history\n" +
		"F,p1,first,1,062Y,yes\n" +
		"\n" +
		"m, p2 ,,no,70.5,0\n" +
		",p3,,,,\n" +
		"O,p4,\"quoted, with comma\",TRUE,540M,false\n"
	got, err := ParseClinicalCSV(strings.NewReader(in), "c.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Clinical{
		"p1": {AgeYears: 62, AgeKnown: true, Sex: Female, FamilyHistory: Yes, Emphysema: Yes},
		"p2": {AgeYears: 70.5, AgeKnown: true, Sex: Male, FamilyHistory: No, Emphysema: No},
		"p3": {},
		"p4": {AgeYears: 45, AgeKnown: true, Sex: SexOther, FamilyHistory: No, Emphysema: Yes},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(got), len(want), got)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %+v, want %+v", id, got[id], w)
		}
	}
}

func TestParseClinicalCSVErrors(t *testing.T) {
	const head = "id,age,sex,family_history,emphysema\n"
	cases := []struct {
		name, in, want string
	}{
		{"empty file", "", "c.csv: empty file"},
		{"missing column", "id,age,sex,family_history\np1,60,M,0\n", `c.csv: line 1: missing column "emphysema"`},
		{"repeated column", "id,age,age,sex,family_history,emphysema\n", `c.csv: line 1: column "age" appears twice`},
		{"bad age", head + "p1,60,M,0,0\np2,sixty,M,0,0\n", "c.csv: line 3: age:"},
		{"negative age", head + "p1,-4,M,0,0\n", "c.csv: line 2: age:"},
		{"NaN age", head + "p1,NaN,M,0,0\n", "c.csv: line 2: age:"},
		{"bad sex", head + "p1,60,X,0,0\n", "c.csv: line 2: sex:"},
		{"bad family", head + "p1,60,M,2,0\n", "c.csv: line 2: family_history:"},
		{"bad emphysema", head + "p1,60,M,0,perhaps\n", "c.csv: line 2: emphysema:"},
		{"empty id", head + " ,60,M,0,0\n", "c.csv: line 2: empty id"},
		{"repeated id", head + "p1,60,M,0,0\np1,61,F,0,0\n", `c.csv: line 3: id "p1" already on line 2`},
		{"short row", head + "p1,60,M,0\n", "c.csv: line 2: 4 fields, header has 5"},
		// The quoted field spans lines 2–3, so the bad sex is reported on
		// the record's first line, 2, and the next record is on line 4.
		{"line after multi-line field", head + "p1,\"6\n0\",M,0,0\n", "c.csv: line 2: age:"},
		{"multi-line then bad", head + "\"p\n1\",60,M,0,0\np2,60,Q,0,0\n", "c.csv: line 4: sex:"},
		{"bad quote", head + "p1,\"60,M,0,0\n", "c.csv:"},
	}
	for _, c := range cases {
		_, err := ParseClinicalCSV(strings.NewReader(c.in), "c.csv")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to contain %q", c.name, err, c.want)
		}
	}
	_, err := ParseClinicalCSV(strings.NewReader(head+"p1,60,M,0,maybe\n"), "c.csv")
	if !errors.Is(err, ErrClinical) {
		t.Errorf("bad cell error %v does not wrap ErrClinical", err)
	}
}

func TestReadClinicalCSV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "clinical.csv")
	if err := os.WriteFile(p, []byte("id,age,sex,family_history,emphysema\nA,055Y,F,,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadClinicalCSV(p)
	if err != nil {
		t.Fatal(err)
	}
	if w := (Clinical{AgeYears: 55, AgeKnown: true, Sex: Female, Emphysema: Yes}); got["A"] != w {
		t.Errorf("%+v, want %+v", got["A"], w)
	}
	if _, err := ReadClinicalCSV(filepath.Join(t.TempDir(), "nope.csv")); err == nil || !strings.Contains(err.Error(), "nope.csv") {
		t.Errorf("missing file: %v", err)
	}
}

// TestClinicalCSVLongLine: an id of 2 MiB (over csvio.MaxLineBytes) is
// refused naming the file and line, not held and accepted.
func TestClinicalCSVLongLine(t *testing.T) {
	csv := "id,age,sex,family_history,emphysema\n" + strings.Repeat("x", 2<<20) + ",60,M,0,0\n"
	_, err := ParseClinicalCSV(strings.NewReader(csv), "clinical.csv")
	if !errors.Is(err, csvio.ErrTooLong) || !strings.Contains(err.Error(), "clinical.csv") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("2 MiB id: %v", err)
	}
}
