// Package jsonstrict checks what encoding/json lets pass: an object that
// names a key twice. encoding/json keeps the last value, and matches a
// struct's fields ignoring case, so a file edited by hand, or crafted, can
// say one thing to a reader that keeps the first (or to a person reading
// it) and another to lungctl.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lungctl/lungctl/internal/textsafe"
)

// ErrDuplicateKey is returned (wrapped) when an object names a key twice.
var ErrDuplicateKey = errors.New("duplicate key")

// frame is one open object or array. It holds its own key only, so that
// deep nesting costs memory in proportion to the input, not its square.
type frame struct {
	object bool
	keys   map[string]bool // folded keys seen (see fold)
	key    string          // an object's current key
	expect bool            // an object's next token is a key
}

// fold maps a key to the form encoding/json compares struct field names
// in: every rune replaced by the least rune of its Unicode simple case
// folding orbit ("S" for s, S and ſ; "K" for k, K and the Kelvin sign).
func fold(k string) string {
	var b strings.Builder
	for _, r := range k {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// UniqueKeys returns an error wrapping ErrDuplicateKey, naming the key and
// where it is (e.g. `"lr" in card.training`, escaped and cut to 32 bytes
// each), when an object anywhere in the first JSON value of b names a key
// twice. Keys compare as encoding/json matches struct fields: after
// unescaping ("a" and "\u0061" are one key) and ignoring case ("uid" and
// "UID" are one key). Syntax errors are returned as encoding/json reports
// them; what follows the first value is the caller's to check.
func UniqueKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []frame
	started := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) > 0 || !started {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		started = true
		if err != nil {
			return err
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, frame{object: true, keys: map[string]bool{}, expect: true})
			case '[':
				stack = append(stack, frame{})
			default: // '}' or ']'
				stack = stack[:top]
				if top == 0 {
					return nil
				}
				stack[top-1].expect = stack[top-1].object
			}
			continue
		}
		if top < 0 {
			return nil // a scalar document
		}
		f := &stack[top]
		switch {
		case !f.object:
		case f.expect:
			k, _ := tok.(string)
			fk := fold(k)
			if f.keys[fk] {
				return fmt.Errorf("%w %s in %s", ErrDuplicateKey, clip(fmt.Sprintf("%q", k)), where(stack[:top]))
			}
			f.keys[fk], f.key, f.expect = true, k, false
		default: // a scalar value; a key comes next
			f.expect = true
		}
	}
}

// where names the object that holds the frames' last, by the keys of the
// objects (and "[]" for the arrays) that enclose it: "the top-level object"
// for none, else e.g. "card.training" or "x[]".
func where(enclosing []frame) string {
	var b strings.Builder
	for _, f := range enclosing {
		if !f.object {
			b.WriteString("[]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(f.key)
	}
	if b.Len() == 0 {
		return "the top-level object"
	}
	return clip(b.String())
}

// clip escapes s for one line of text (textsafe) and cuts it to 32 bytes
// (at a rune boundary), marking the cut.
func clip(s string) string {
	s = textsafe.Escape(s)
	if len(s) <= 32 {
		return s
	}
	n := 32
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
}
