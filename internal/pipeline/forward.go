package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/lungctl/lungctl/internal/textsafe"
)

// maxRawLines is how many of a scan process's non-JSON stderr lines (a Go
// crash's trace) are forwarded as warnings; the rest go to debug.
const maxRawLines = 10

// forwarder re-logs a scan process's stderr lines with the scan's id.
type forwarder struct {
	log   *slog.Logger
	id    string
	raw   int
	crash string // the first "fatal error:" line, else the first "panic:" line
	panic string
}

func (f *forwarder) copy(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f.line(sc.Text())
	}
	// After an over-long line: drain, never block the process. A read error
	// here ends the draining; the process's exit status tells the rest.
	_, _ = io.Copy(io.Discard, r)
	if f.crash == "" {
		f.crash = f.panic
	}
	if f.raw > maxRawLines {
		f.log.Warn("scan process wrote more lines", "scan", f.id, "lines", f.raw-maxRawLines, "level_shown", "debug (-v)")
	}
}

func (f *forwarder) line(s string) {
	if strings.HasPrefix(s, "{") && f.relog(s) {
		return
	}
	switch {
	case f.crash == "" && strings.HasPrefix(s, "fatal error:"):
		f.crash = textsafe.Escape(s)
	case f.panic == "" && strings.HasPrefix(s, "panic:"):
		f.panic = textsafe.Escape(s)
	}
	f.raw++
	lvl := slog.LevelWarn
	if f.raw > maxRawLines {
		lvl = slog.LevelDebug
	}
	f.log.Log(context.Background(), lvl, "scan process output", "scan", f.id, "line", s)
}

// relog re-logs one slog JSON line at its level with its attributes.
func (f *forwarder) relog(s string) bool {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return false
	}
	msg, ok := m["msg"].(string)
	if !ok {
		return false
	}
	var lvl slog.Level
	if l, ok := m["level"].(string); !ok || lvl.UnmarshalText([]byte(l)) != nil {
		lvl = slog.LevelInfo
	}
	attrs := []slog.Attr{slog.String("scan", f.id)}
	attrs = append(attrs, jsonAttrs(m, "time", "level", "msg", "scan")...)
	f.log.LogAttrs(context.Background(), lvl, msg, attrs...)
	return true
}

// jsonAttrs turns a decoded JSON object into attributes in key order
// (objects become groups), leaving out the keys in skip.
func jsonAttrs(m map[string]any, skip ...string) []slog.Attr {
	keys := make([]string, 0, len(m))
outer:
	for k := range m {
		for _, s := range skip {
			if k == s {
				continue outer
			}
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	as := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			as = append(as, slog.Attr{Key: k, Value: slog.GroupValue(jsonAttrs(v)...)})
		case json.Number:
			if x, err := v.Float64(); err == nil {
				as = append(as, slog.Float64(k, x))
			} else {
				as = append(as, slog.String(k, v.String()))
			}
		case nil:
			as = append(as, slog.Any(k, nil))
		default:
			as = append(as, slog.Any(k, v))
		}
	}
	return as
}
