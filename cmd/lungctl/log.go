package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// humanHandler prints "level message key=value ..." lines without the
// timestamp noise of slog's text handler: what a person at a terminal reads.
type humanHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	opts  *slog.HandlerOptions
	attrs []slog.Attr
}

func newHumanHandler(w io.Writer, opts *slog.HandlerOptions) *humanHandler {
	return &humanHandler{mu: &sync.Mutex{}, w: w, opts: opts}
}

func (h *humanHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.opts.Level.Level()
}

func (h *humanHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if r.Level >= slog.LevelWarn {
		b.WriteString(strings.ToLower(r.Level.String()))
		b.WriteString(": ")
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *humanHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &n
}

func (h *humanHandler) WithGroup(string) slog.Handler { return h }
