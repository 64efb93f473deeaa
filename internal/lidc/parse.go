package lidc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/safefile"
)

// ParseFile reads and parses the LIDC XML file at path; see Parse. A path
// that is not a regular file (a FIFO, device or socket) is refused without
// blocking (safefile.ErrNotRegular).
func ParseFile(path string) (*Message, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lidc: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("lidc: %s: %w: %d bytes, limit %d", path, ErrTooLarge, st.Size(), MaxFileBytes)
	}
	return Parse(f, path)
}

// Parse reads an LIDC-IDRI readers' XML (root LidcReadMessage) from r; name
// labels errors and becomes Message.File.
//
// Tolerance: elements are matched by local name, ignoring namespace
// (LIDC's is http://www.nih.gov) and letter case; unknown elements are
// skipped; text is trimmed ("-125.000000 " reads as −125). Marks are read
// at LIDC's nesting only (readingSession directly under the root,
// unblindedReadNodule and nonNodule directly under a readingSession, roi
// directly under its nodule), in any order among siblings. An empty
// or absent number reads as absent (HasZ false, rating 0). An edgeMap or
// locus lacking xCoord or yCoord is dropped.
//
// Errors (wrapping ErrNotLIDC, ErrTooLarge, ErrMalformed or the XML
// decoder's error, always naming the file): a root other than
// LidcReadMessage, input over MaxFileBytes, more than MaxROIs rois,
// MaxPointsPerROI points in a roi, MaxPoints points in all, MaxMarks marks,
// MaxDepth nesting or MaxTextBytes of text in one element, a coordinate
// that is not an integer or exceeds MaxCoord, a z that is not a finite
// number, truncated or ill-formed XML. Parse never panics.
func Parse(r io.Reader, name string) (*Message, error) {
	p := &parser{m: &Message{File: name}}
	lr := &io.LimitedReader{R: r, N: MaxFileBytes + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	d.CharsetReader = charsetReader
	for {
		tok, err := d.Token()
		if lr.N <= 0 {
			return nil, fmt.Errorf("lidc: %s: %w: over %d bytes", name, ErrTooLarge, MaxFileBytes)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("lidc: %s: %w: %w", name, ErrMalformed, err)
		}
		if err := p.token(tok); err != nil {
			return nil, fmt.Errorf("lidc: %s: %w", name, err)
		}
	}
	if !p.sawRoot {
		return nil, fmt.Errorf("lidc: %s: %w: no root element", name, ErrNotLIDC)
	}
	if len(p.stack) != 0 {
		return nil, fmt.Errorf("lidc: %s: %w: unexpected end of input", name, ErrMalformed)
	}
	return p.m, nil
}

// parser is the streaming state of Parse: the open elements' local names
// (lower case), the current leaf's text, and the marks being built.
type parser struct {
	m       *Message
	stack   []string
	text    bytes.Buffer
	sawRoot bool

	// The marks being built, and the stack depth of their elements: a
	// child counts only directly under its mark's element.
	sess    *Session
	nod     *ReaderNodule
	roi     *ROI
	non     *NonNodule
	dSess   int
	dNod    int
	dROI    int
	dNon    int
	x, y    int
	hasX    bool
	hasY    bool
	nROI    int
	nPoints int
	nMarks  int
}

func (p *parser) parent(n int) string {
	if len(p.stack) > n {
		return p.stack[len(p.stack)-1-n]
	}
	return ""
}

func (p *parser) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		return p.start(t)
	case xml.EndElement:
		return p.end(strings.ToLower(t.Name.Local))
	case xml.CharData:
		// Keep at most MaxTextBytes+1 bytes: enough for end to tell that
		// a value it reads is too long; text it does not read is ignored.
		if room := MaxTextBytes + 1 - p.text.Len(); room > 0 {
			p.text.Write(t[:min(len(t), room)])
		}
	}
	return nil
}

func (p *parser) start(t xml.StartElement) error {
	name := strings.ToLower(t.Name.Local)
	if len(p.stack) == 0 {
		if p.sawRoot {
			return fmt.Errorf("%w: second root element %q", ErrMalformed, t.Name.Local)
		}
		p.sawRoot = true
		if name != "lidcreadmessage" {
			return fmt.Errorf("%w: root element is %q", ErrNotLIDC, t.Name.Local)
		}
		for _, a := range t.Attr {
			if strings.EqualFold(a.Name.Local, "uid") {
				p.m.UID = strings.TrimSpace(a.Value)
			}
		}
	}
	if len(p.stack) >= MaxDepth {
		return fmt.Errorf("%w: elements nested over %d deep", ErrTooLarge, MaxDepth)
	}
	p.stack = append(p.stack, name)
	p.text.Reset()
	switch name {
	case "readingsession":
		if len(p.stack) == 2 {
			p.m.Sessions = append(p.m.Sessions, Session{})
			p.sess, p.dSess = &p.m.Sessions[len(p.m.Sessions)-1], 2
		}
	case "unblindedreadnodule":
		if p.sess != nil && len(p.stack) == p.dSess+1 {
			if err := p.mark(); err != nil {
				return err
			}
			p.sess.Nodules = append(p.sess.Nodules, ReaderNodule{})
			p.nod, p.dNod = &p.sess.Nodules[len(p.sess.Nodules)-1], len(p.stack)
			p.roi = nil
		}
	case "nonnodule":
		if p.sess != nil && len(p.stack) == p.dSess+1 {
			if err := p.mark(); err != nil {
				return err
			}
			p.sess.NonNodules = append(p.sess.NonNodules, NonNodule{})
			p.non, p.dNon = &p.sess.NonNodules[len(p.sess.NonNodules)-1], len(p.stack)
		}
	case "roi":
		if p.nod != nil && len(p.stack) == p.dNod+1 {
			if p.nROI++; p.nROI > MaxROIs {
				return fmt.Errorf("%w: over %d roi elements", ErrTooLarge, MaxROIs)
			}
			p.nod.ROIs = append(p.nod.ROIs, ROI{Inclusion: true})
			p.roi, p.dROI = &p.nod.ROIs[len(p.nod.ROIs)-1], len(p.stack)
		}
	case "edgemap", "locus":
		p.hasX, p.hasY = false, false
	}
	return nil
}

func (p *parser) mark() error {
	if p.nMarks++; p.nMarks > MaxMarks {
		return fmt.Errorf("%w: over %d nodule and non-nodule marks", ErrTooLarge, MaxMarks)
	}
	return nil
}

func (p *parser) end(name string) error {
	if len(p.stack) == 0 || p.stack[len(p.stack)-1] != name {
		return fmt.Errorf("%w: unexpected end element %q", ErrMalformed, name)
	}
	long := p.text.Len() > MaxTextBytes
	text := strings.TrimSpace(p.text.String())
	p.text.Reset()
	if long && leafNames[name] {
		return fmt.Errorf("%w: element %q has over %d bytes of text", ErrTooLarge, name, MaxTextBytes)
	}
	par := p.parent(1)
	d := len(p.stack) // depth of the element ending
	p.stack = p.stack[:len(p.stack)-1]
	var err error
	switch {
	case d == 3 && par == "responseheader" && name == "seriesinstanceuid":
		p.m.SeriesUID = text
	case d == 3 && par == "responseheader" && name == "studyinstanceuid":
		p.m.StudyUID = text
	case p.sess != nil && d == p.dSess:
		p.sess = nil
	case p.sess != nil && d == p.dSess+1:
		switch {
		case name == "servicingradiologistid":
			p.sess.ReaderID = text
		case name == "annotationversion":
			p.sess.AnnotationVersion = text
		case p.nod != nil && d == p.dNod:
			p.nod, p.roi = nil, nil
		case p.non != nil && d == p.dNon:
			p.non = nil
		}
	case p.nod != nil && d == p.dNod+1:
		switch {
		case name == "noduleid":
			p.nod.ID = text
		case p.roi != nil && d == p.dROI:
			p.roi = nil
		}
	case p.nod != nil && d == p.dNod+2 && par == "characteristics":
		for r := Rating(0); r < NumRatings; r++ {
			if strings.EqualFold(name, ratingNames[r]) {
				p.nod.Ratings[r], err = rating(text)
			}
		}
	case p.roi != nil && d == p.dROI+1:
		switch name {
		case "imagezposition":
			p.roi.Z, p.roi.HasZ, err = zpos(text)
		case "imagesop_uid":
			p.roi.SOPUID = text
		case "inclusion":
			p.roi.Inclusion = !strings.EqualFold(text, "false")
		case "edgemap":
			if p.hasX && p.hasY {
				if len(p.roi.Points) >= MaxPointsPerROI {
					return fmt.Errorf("%w: roi with over %d points", ErrTooLarge, MaxPointsPerROI)
				}
				if p.nPoints++; p.nPoints > MaxPoints {
					return fmt.Errorf("%w: over %d edge points", ErrTooLarge, MaxPoints)
				}
				p.roi.Points = append(p.roi.Points, Point{p.x, p.y})
			}
		}
	case p.non != nil && d == p.dNon+1:
		switch name {
		case "nonnoduleid":
			p.non.ID = text
		case "imagezposition":
			p.non.Z, p.non.HasZ, err = zpos(text)
		case "imagesop_uid":
			p.non.SOPUID = text
		case "locus":
			if p.hasX && p.hasY {
				p.non.Point, p.non.HasPoint = Point{p.x, p.y}, true
			}
		}
	case (p.roi != nil && d == p.dROI+2 && par == "edgemap") || (p.non != nil && d == p.dNon+2 && par == "locus"):
		switch name {
		case "xcoord":
			p.x, err = coord(text)
			p.hasX = err == nil && text != ""
		case "ycoord":
			p.y, err = coord(text)
			p.hasY = err == nil && text != ""
		}
	}
	return err
}

// leafNames are the elements whose text Parse reads (lower case).
var leafNames = map[string]bool{
	"seriesinstanceuid": true, "studyinstanceuid": true, "servicingradiologistid": true,
	"annotationversion": true, "noduleid": true, "nonnoduleid": true, "imagezposition": true,
	"imagesop_uid": true, "inclusion": true, "xcoord": true, "ycoord": true,
	"subtlety": true, "internalstructure": true, "calcification": true, "sphericity": true,
	"margin": true, "lobulation": true, "spiculation": true, "texture": true, "malignancy": true,
}

func coord(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: coordinate %q is not an integer", ErrMalformed, s)
	}
	if v > MaxCoord || v < -MaxCoord {
		return 0, fmt.Errorf("%w: coordinate %d beyond ±%d", ErrTooLarge, v, MaxCoord)
	}
	return v, nil
}

func zpos(s string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	z, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(z) || math.IsInf(z, 0) {
		return 0, false, fmt.Errorf("%w: imageZposition %q is not a finite number", ErrMalformed, s)
	}
	return z, true, nil
}

// rating reads a characteristic; empty is 0 (absent). LIDC ratings are
// small integers; anything else is malformed.
func rating(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 9 {
		return 0, fmt.Errorf("%w: rating %q", ErrMalformed, s)
	}
	return v, nil
}

// peekHeader reads just enough of r to return the root element's local
// name and ResponseHeader's SeriesInstanceUid (used by FindXML): it stops
// at the end of ResponseHeader, at the first readingSession, after 1 MiB
// or at the first XML error. root is "" when no element was read; err is
// then the decoder's error.
func peekHeader(r io.Reader) (root, seriesUID string, err error) {
	d := xml.NewDecoder(&io.LimitedReader{R: r, N: 1 << 20})
	d.CharsetReader = charsetReader
	var stack []string
	var text bytes.Buffer
	for {
		tok, terr := d.Token()
		if terr != nil {
			if root == "" {
				return "", "", terr
			}
			return root, seriesUID, nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := strings.ToLower(t.Name.Local)
			if root == "" {
				root = t.Name.Local
				if n != "lidcreadmessage" {
					return root, "", nil
				}
			}
			if n == "readingsession" || len(stack) > MaxDepth {
				return root, seriesUID, nil
			}
			stack = append(stack, n)
			text.Reset()
		case xml.CharData:
			if text.Len() < MaxTextBytes {
				text.Write(t)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				return root, seriesUID, nil
			}
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n == "seriesinstanceuid" && len(stack) == 2 && stack[1] == "responseheader" {
				seriesUID = strings.TrimSpace(text.String())
			}
			if n == "responseheader" {
				return root, seriesUID, nil
			}
		}
	}
}
