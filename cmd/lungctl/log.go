package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/lungctl/lungctl/internal/textsafe"
)

// humanHandler prints "level message key=value ..." lines without the
// timestamp noise of slog's text handler: what a person at a terminal reads.
// Messages, keys and values are escaped (textsafe), so a folder name with a
// newline or an escape sequence cannot forge a line or colour the terminal;
// groups print as group.key=value.
type humanHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	opts   *slog.HandlerOptions
	attrs  []slog.Attr
	prefix string // open groups, "a.b."
}

func newHumanHandler(w io.Writer, opts *slog.HandlerOptions) *humanHandler {
	return &humanHandler{mu: &sync.Mutex{}, w: w, opts: opts}
}

func (h *humanHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts != nil && h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

func (h *humanHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if r.Level >= slog.LevelWarn {
		b.WriteString(strings.ToLower(r.Level.String()))
		b.WriteString(": ")
	}
	b.WriteString(textsafe.Escape(r.Message))
	for _, a := range h.attrs {
		appendAttr(&b, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.prefix, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(textsafe.Escape(prefix + a.Key))
	b.WriteByte('=')
	b.WriteString(formatValue(a.Value))
}

// formatValue writes numbers plainly and escapes everything else.
func formatValue(v slog.Value) string {
	switch v.Kind() {
	case slog.KindFloat64:
		return strconv.FormatFloat(v.Float64(), 'g', -1, 64)
	case slog.KindString:
		return textsafe.Escape(v.String())
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return textsafe.Escape(err.Error())
		}
		return textsafe.Escape(fmt.Sprint(v.Any()))
	}
	return textsafe.Escape(v.String())
}

func (h *humanHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr{}, h.attrs...)
	for _, a := range as {
		n.attrs = append(n.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &n
}

func (h *humanHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}
