package lidc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A small LidcReadMessage in the shapes LIDC uses: namespace, trailing
// space in imageZposition, a nodule ≥ 3 mm with an inclusion and an
// exclusion ROI, a nodule < 3 mm and a non-nodule.
const smallXML = `<?xml version="1.0" encoding="UTF-8"?>
<LidcReadMessage uid="1.2.3" xmlns="http://www.nih.gov">
<ResponseHeader>
<SeriesInstanceUid>1.2.3.4</SeriesInstanceUid>
<StudyInstanceUID>1.2.3.5</StudyInstanceUID>
</ResponseHeader>
<readingSession>
  <annotationVersion>3.12</annotationVersion>
  <servicingRadiologistID>reader-a</servicingRadiologistID>
  <unblindedReadNodule>
    <noduleID>Nodule 001</noduleID>
    <characteristics>
      <subtlety>5</subtlety><internalStructure>1</internalStructure><calcification>6</calcification>
      <sphericity>3</sphericity><margin>3</margin><lobulation>3</lobulation>
      <spiculation>4</spiculation><texture>5</texture><malignancy>5</malignancy>
    </characteristics>
    <roi>
      <imageZposition>-125.000000 </imageZposition>
      <imageSOP_UID>9.1</imageSOP_UID>
      <inclusion>TRUE</inclusion>
      <edgeMap><xCoord>10</xCoord><yCoord>10</yCoord></edgeMap>
      <edgeMap><xCoord>20</xCoord><yCoord>10</yCoord></edgeMap>
      <edgeMap><xCoord>20</xCoord><yCoord>20</yCoord></edgeMap>
      <edgeMap><xCoord>10</xCoord><yCoord>20</yCoord></edgeMap>
    </roi>
    <roi>
      <imageZposition>-125.0</imageZposition>
      <inclusion>FALSE</inclusion>
      <edgeMap><xCoord>14</xCoord><yCoord>14</yCoord></edgeMap>
      <edgeMap><xCoord>16</xCoord><yCoord>14</yCoord></edgeMap>
      <edgeMap><xCoord>16</xCoord><yCoord>16</yCoord></edgeMap>
    </roi>
  </unblindedReadNodule>
  <unblindedReadNodule>
    <noduleID>Nodule 002</noduleID>
    <roi>
      <imageZposition>-150.0</imageZposition>
      <inclusion>TRUE</inclusion>
      <edgeMap><xCoord>187</xCoord><yCoord>166</yCoord></edgeMap>
    </roi>
  </unblindedReadNodule>
  <nonNodule>
    <nonNoduleID>_Non-nodule 001</nonNoduleID>
    <imageZposition>-185.000000 </imageZposition>
    <imageSOP_UID>9.3</imageSOP_UID>
    <locus><xCoord>396</xCoord><yCoord>216</yCoord></locus>
  </nonNodule>
</readingSession>
<readingSession>
  <servicingRadiologistID>reader-b</servicingRadiologistID>
</readingSession>
</LidcReadMessage>
`

func TestParseSmall(t *testing.T) {
	m, err := Parse(strings.NewReader(smallXML), "small.xml")
	if err != nil {
		t.Fatal(err)
	}
	if m.UID != "1.2.3" || m.SeriesUID != "1.2.3.4" || m.StudyUID != "1.2.3.5" || m.File != "small.xml" {
		t.Fatalf("header %+v", m)
	}
	if len(m.Sessions) != 2 || m.Sessions[0].ReaderID != "reader-a" || m.Sessions[1].ReaderID != "reader-b" {
		t.Fatalf("sessions %+v", m.Sessions)
	}
	s := m.Sessions[0]
	if s.AnnotationVersion != "3.12" || len(s.Nodules) != 2 || len(s.NonNodules) != 1 {
		t.Fatalf("session %+v", s)
	}
	n := s.Nodules[0]
	want := Ratings{5, 1, 6, 3, 3, 3, 4, 5, 5}
	if n.ID != "Nodule 001" || n.Ratings != want || !n.Ratings.Complete() || !n.Large() {
		t.Fatalf("nodule %+v", n)
	}
	if len(n.ROIs) != 2 {
		t.Fatalf("rois %+v", n.ROIs)
	}
	r0, r1 := n.ROIs[0], n.ROIs[1]
	if !r0.HasZ || r0.Z != -125 || r0.SOPUID != "9.1" || !r0.Inclusion || len(r0.Points) != 4 || r0.Points[1] != (Point{20, 10}) {
		t.Fatalf("roi0 %+v", r0)
	}
	if r1.Inclusion || r1.SOPUID != "" || len(r1.Points) != 3 {
		t.Fatalf("roi1 %+v", r1)
	}
	small := s.Nodules[1]
	if small.Large() || small.Ratings != (Ratings{}) || len(small.ROIs) != 1 || small.ROIs[0].Points[0] != (Point{187, 166}) {
		t.Fatalf("small nodule %+v", small)
	}
	nn := s.NonNodules[0]
	if nn.ID != "_Non-nodule 001" || !nn.HasZ || nn.Z != -185 || nn.SOPUID != "9.3" || !nn.HasPoint || nn.Point != (Point{396, 216}) {
		t.Fatalf("non-nodule %+v", nn)
	}
	if Malignancy.String() != "malignancy" || Rating(42).String() != "Rating(42)" {
		t.Fatal("rating names")
	}
}

// TestParseVariants: no namespace, other letter case, absent inclusion
// (TRUE), absent z, empty ratings, an edgeMap without yCoord (dropped),
// unknown elements and a nested unknown readingSession.
func TestParseVariants(t *testing.T) {
	x := `<LIDCReadMessage><readingSession><servicingRadiologistID>r</servicingRadiologistID>
<extra><readingSession><unblindedReadNodule/></readingSession></extra>
<UnblindedReadNodule><noduleID>a</noduleID><characteristics><malignancy></malignancy><texture>3</texture></characteristics>
<roi><edgeMap><xCoord>1</xCoord><yCoord>2</yCoord></edgeMap><edgeMap><xCoord>3</xCoord></edgeMap><edgeMap><xCoord>4</xCoord><yCoord>5</yCoord><zz>9</zz></edgeMap></roi>
</UnblindedReadNodule><comment>` + strings.Repeat("long text ", 1000) + `</comment></readingSession></LIDCReadMessage>`
	m, err := Parse(strings.NewReader(x), "v.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Sessions) != 1 || len(m.Sessions[0].Nodules) != 1 {
		t.Fatalf("%+v", m)
	}
	n := m.Sessions[0].Nodules[0]
	r := n.ROIs[0]
	if r.HasZ || !r.Inclusion || len(r.Points) != 2 || r.Points[1] != (Point{4, 5}) {
		t.Fatalf("roi %+v", r)
	}
	if n.Ratings[Malignancy] != 0 || n.Ratings[Texture] != 3 || n.Ratings.Complete() {
		t.Fatalf("ratings %v", n.Ratings)
	}
}

// TestParseHostile: every failure is an error naming the file and wrapping
// the documented sentinel (or the XML decoder's error), never a panic.
func TestParseHostile(t *testing.T) {
	head := `<LidcReadMessage><readingSession><unblindedReadNodule><roi>`
	tail := `</roi></unblindedReadNodule></readingSession></LidcReadMessage>`
	pt := func(x, y string) string {
		return "<edgeMap><xCoord>" + x + "</xCoord><yCoord>" + y + "</yCoord></edgeMap>"
	}
	cases := []struct {
		name, xml string
		want      error // nil: any error
	}{
		{"empty", "", ErrNotLIDC},
		{"other root", `<IdriReadMessage></IdriReadMessage>`, ErrNotLIDC},
		{"truncated", smallXML[:len(smallXML)/2], nil},
		{"truncated in tag", `<LidcReadMessage><readingSess`, nil},
		{"unclosed root", `<LidcReadMessage><readingSession></readingSession>`, ErrMalformed},
		{"huge x", head + pt("99999999999999999999", "1") + tail, ErrMalformed},
		{"x beyond bound", head + pt(fmt.Sprint(MaxCoord+1), "1") + tail, ErrTooLarge},
		{"float x", head + pt("1.5", "1") + tail, ErrMalformed},
		{"NaN z", head + `<imageZposition>NaN</imageZposition>` + tail, ErrMalformed},
		{"Inf z", head + `<imageZposition>1e999</imageZposition>` + tail, ErrMalformed},
		{"text z", head + `<imageZposition>minus ten</imageZposition>` + tail, ErrMalformed},
		{"bad rating", `<LidcReadMessage><readingSession><unblindedReadNodule><characteristics><malignancy>high</malignancy></characteristics></unblindedReadNodule></readingSession></LidcReadMessage>`, ErrMalformed},
		{"long uid", `<LidcReadMessage><ResponseHeader><SeriesInstanceUid>` + strings.Repeat("1", MaxTextBytes+1) + `</SeriesInstanceUid></ResponseHeader></LidcReadMessage>`, ErrTooLarge},
		{"deep", `<LidcReadMessage>` + strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1) + `</LidcReadMessage>`, ErrTooLarge},
		{"two roots", `<LidcReadMessage/><LidcReadMessage/>`, nil},
		{"entity", `<!DOCTYPE a [<!ENTITY e "x">]><LidcReadMessage>&e;</LidcReadMessage>`, nil},
	}
	for _, c := range cases {
		_, err := Parse(strings.NewReader(c.xml), "bad.xml")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), "bad.xml") {
			t.Errorf("%s: error does not name the file: %v", c.name, err)
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<LidcReadMessage><readingSession><unblindedReadNodule><roi>`)
	for i := 0; i <= MaxPointsPerROI; i++ {
		b.WriteString(`<edgeMap><xCoord>1</xCoord><yCoord>1</yCoord></edgeMap>`)
	}
	b.WriteString(`</roi></unblindedReadNodule></readingSession></LidcReadMessage>`)
	if _, err := Parse(strings.NewReader(b.String()), "points.xml"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("points per roi: %v", err)
	}
	b.Reset()
	b.WriteString(`<LidcReadMessage><readingSession><unblindedReadNodule>`)
	for i := 0; i <= MaxROIs; i++ {
		b.WriteString(`<roi/>`)
	}
	b.WriteString(`</unblindedReadNodule></readingSession></LidcReadMessage>`)
	if _, err := Parse(strings.NewReader(b.String()), "rois.xml"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("rois: %v", err)
	}
	// Over MaxFileBytes of whitespace: refused without reading it all.
	r := &zeroReader{n: MaxFileBytes + 10}
	if _, err := Parse(r, "big.xml"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("file size: %v", err)
	}
}

// zeroReader yields "<LidcReadMessage>" and then n spaces.
type zeroReader struct {
	n    int
	head bool
}

func (z *zeroReader) Read(p []byte) (int, error) {
	if !z.head {
		z.head = true
		return copy(p, "<LidcReadMessage>"), nil
	}
	if z.n <= 0 {
		return 0, fmt.Errorf("eof")
	}
	k := min(len(p), z.n)
	for i := range p[:k] {
		p[i] = ' '
	}
	z.n -= k
	return k, nil
}
