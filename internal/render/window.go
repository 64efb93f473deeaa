package render

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MediastinumWindow is the usual mediastinal (soft-tissue) window,
// W 350 L 40 HU.
var MediastinumWindow = Window{Width: 350, Level: 40}

// ErrBadWindow is returned by ParseWindow for a name or numbers it cannot
// use.
var ErrBadWindow = errors.New("render: bad window")

// WindowPresets are the named windows ParseWindow accepts, by name.
var WindowPresets = map[string]Window{
	"lung":        LungWindow,
	"mediastinum": MediastinumWindow,
}

// ParseWindow reads a display window as the CLI's --window flag gives it:
// a preset name ("lung": W 1500 L −600 HU; "mediastinum", or
// "mediastinal": W 350 L 40 HU; case and surrounding blanks ignored) or
// "W,L", the width and level in HU as decimal numbers (e.g. "400,40" or
// "1500,-600"). The width must be positive and both must be finite and
// within ±100000 HU; anything else is ErrBadWindow, wrapped with the input.
func ParseWindow(s string) (Window, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "mediastinal" {
		t = "mediastinum"
	}
	if w, ok := WindowPresets[t]; ok {
		return w, nil
	}
	ws, ls, ok := strings.Cut(t, ",")
	if !ok {
		return Window{}, fmt.Errorf("%w %q: want lung, mediastinum or W,L in HU (e.g. 400,40)", ErrBadWindow, s)
	}
	w, err1 := strconv.ParseFloat(strings.TrimSpace(ws), 64)
	l, err2 := strconv.ParseFloat(strings.TrimSpace(ls), 64)
	switch {
	case err1 != nil || err2 != nil:
		return Window{}, fmt.Errorf("%w %q: width and level must be numbers in HU (e.g. 400,40)", ErrBadWindow, s)
	case !(w > 0) || w > 1e5 || math.IsNaN(l) || math.Abs(l) > 1e5:
		return Window{}, fmt.Errorf("%w %q: want 0 < width ≤ 100000 HU and |level| ≤ 100000 HU", ErrBadWindow, s)
	}
	return Window{Width: w, Level: l}, nil
}

// Name is the preset's name ("lung", "mediastinum") when w is one,
// otherwise "".
func (w Window) Name() string {
	for n, p := range WindowPresets {
		if p == w {
			return n
		}
	}
	return ""
}

// String gives the window as "W 1500 L -600" (HU), the form ParseWindow
// does not read back; use Flag for that.
func (w Window) String() string {
	return "W " + strconv.FormatFloat(w.Width, 'g', -1, 64) + " L " + strconv.FormatFloat(w.Level, 'g', -1, 64)
}

// Flag gives the window in the form ParseWindow reads: the preset name, or
// "W,L" in HU.
func (w Window) Flag() string {
	if n := w.Name(); n != "" {
		return n
	}
	return strconv.FormatFloat(w.Width, 'g', -1, 64) + "," + strconv.FormatFloat(w.Level, 'g', -1, 64)
}
