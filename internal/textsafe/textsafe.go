// Package textsafe makes untrusted strings (file and folder names, DICOM
// header values, error messages quoting them) safe to print on one line of a
// terminal or a text log: control characters (C0, DEL, C1), Unicode format
// characters (bidirectional overrides, zero-width marks), line and paragraph
// separators and invalid UTF-8 are replaced by Go-style escapes (\n, \x1b,
// \u202e, \xff), so a name cannot forge a log line, move the cursor or
// reorder what the reader sees. Everything else, backslashes included, is
// left as it is.
package textsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// Clean reports whether s needs no escaping.
func Clean(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

// Escape returns s with every unsafe character escaped (s itself when Clean).
func Escape(s string) string {
	if Clean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
