// Package jsonstrict checks what encoding/json lets pass: an object that
// names a key twice. encoding/json keeps the last value, so a file edited
// by hand, or crafted, can say one thing to a reader that keeps the first
// (or to a person reading it) and another to lungctl.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrDuplicateKey is returned (wrapped) when an object names a key twice.
var ErrDuplicateKey = errors.New("duplicate key")

// frame is one open object or array.
type frame struct {
	object bool
	keys   map[string]bool
	path   string // the path of this object or array, e.g. "card.metrics"
	key    string // an object's current key
	expect bool   // an object's next token is a key
}

// child is the path of the value now being read in f.
func (f *frame) child() string {
	switch {
	case !f.object:
		return f.path + "[]"
	case f.path == "":
		return f.key
	default:
		return f.path + "." + f.key
	}
}

// UniqueKeys returns an error wrapping ErrDuplicateKey, naming the key and
// where it is (e.g. `"lr" in card.training`), when an object anywhere in
// the first JSON value of b names a key twice. Keys compare after
// unescaping, so "a" and "\u0061" are one key. Syntax errors are returned
// as encoding/json reports them; what follows the first value is the
// caller's to check.
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
			case '{', '[':
				path := ""
				if top >= 0 {
					path = stack[top].child()
				}
				stack = append(stack, frame{object: d == '{', keys: map[string]bool{}, path: path, expect: d == '{'})
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
			if f.keys[k] {
				where := "the top-level object"
				if f.path != "" {
					where = f.path
				}
				return fmt.Errorf("%w %q in %s", ErrDuplicateKey, k, where)
			}
			f.keys[k], f.key, f.expect = true, k, false
		default: // a scalar value; a key comes next
			f.expect = true
		}
	}
}
