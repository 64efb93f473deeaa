package main

import (
	"fmt"
	"io"
)

// printer writes a command's text output (tables, summaries, paths) and
// remembers the first write error; later writes are skipped. The command
// returns Err, so a closed pipe or a full disk behind standard output fails
// the command (exit 1) instead of leaving a silently truncated report.
// Every fmt.Fprint* to a command's standard output in this package goes
// through one.
type printer struct {
	w   io.Writer
	err error
}

func newPrinter(w io.Writer) *printer { return &printer{w: w} }

// Printf is fmt.Fprintf to the printer's writer.
func (p *printer) Printf(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

// Println is fmt.Fprintln to the printer's writer.
func (p *printer) Println(a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintln(p.w, a...)
	}
}

// Print is fmt.Fprint to the printer's writer.
func (p *printer) Print(a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprint(p.w, a...)
	}
}

// Err is the first write error, nil when every write succeeded.
func (p *printer) Err() error { return p.err }
