package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/spf13/pflag"
)

// Numeric flags with a documented valid range. The range is checked when
// the flag is parsed, so an out-of-range or NaN value is a usage error (exit
// 2) before any work, and the help text states it.

type intRange struct {
	p      *int
	lo, hi int
}

func (r intRange) String() string { return strconv.Itoa(*r.p) }
func (r intRange) Type() string   { return "int" }
func (r intRange) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	if v < r.lo || v > r.hi {
		return fmt.Errorf("%d is outside the valid range %d to %d", v, r.lo, r.hi)
	}
	*r.p = v
	return nil
}

// intFlag defines an int flag valid in [lo, hi]; the usage gets the range.
func intFlag(f *pflag.FlagSet, p *int, name string, def, lo, hi int, usage string) {
	*p = def
	f.Var(intRange{p, lo, hi}, name, fmt.Sprintf("%s (%d to %d)", usage, lo, hi))
}

type floatRange struct {
	p              *float64
	lo, hi         float64
	loOpen, hiOpen bool // exclude the bound
}

func (r floatRange) String() string { return strconv.FormatFloat(*r.p, 'g', -1, 64) }
func (r floatRange) Type() string   { return "float" }
func (r floatRange) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	if math.IsNaN(v) || v < r.lo || v > r.hi || (r.loOpen && v == r.lo) || (r.hiOpen && v == r.hi) {
		return fmt.Errorf("%s is outside the valid range %s", s, r.describe())
	}
	*r.p = v
	return nil
}

func (r floatRange) describe() string {
	lo, hi := "<=", "<="
	if r.loOpen {
		lo = "<"
	}
	if r.hiOpen {
		hi = "<"
	}
	return fmt.Sprintf("%g %s x %s %g", r.lo, lo, hi, r.hi)
}

// floatFlag defines a float64 flag valid between lo and hi, each bound
// excluded when its open flag is set; the usage gets the range.
func floatFlag(f *pflag.FlagSet, p *float64, name string, def, lo, hi float64, loOpen, hiOpen bool, usage string) {
	*p = def
	r := floatRange{p, lo, hi, loOpen, hiOpen}
	f.Var(r, name, fmt.Sprintf("%s (%s)", usage, r.describe()))
}
