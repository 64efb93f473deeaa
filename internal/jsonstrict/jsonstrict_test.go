package jsonstrict

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestUniqueKeys(t *testing.T) {
	cases := []struct {
		in, where string // where: "" for no error
	}{
		{`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`, ""},
		{`[1,2,{"x":null}]`, ""},
		{`"just a string"`, ""},
		{`{}`, ""},
		{`{"ab":1,"ba":2,"a":{"ab":3}}`, ""},
		{`{"a":1,"a":2}`, `"a" in the top-level object`},
		{`{"a":1,"\u0061":2}`, `"a" in the top-level object`},
		{`{"card":{"training":{"lr":1,"n":[1,2],"lr":2}}}`, `"lr" in card.training`},
		{`{"x":[{"k":1},{"k":1,"k":2}]}`, `"k" in x[]`},
		{`{"a":[{"b":{"c":1,"c":2}}]}`, `"c" in a[].b`},
		{`[{"a":1,"a":2}]`, `"a" in []`},
		{`{"o":{"p":1},"q":{"r":{},"s":2},"q":3}`, `"q" in the top-level object`},
		// encoding/json matches struct fields ignoring case, with
		// Unicode's simple folding (ſ is s, the Kelvin sign is k).
		{`{"series_uid":"1.2.3","SERIES_UID":"1.2.4"}`, `"SERIES_UID" in the top-level object`},
		{`{"series_uid":"1.2.3","\u017Feries_uid":"1.2.4"}`, `duplicate key "ſeries_uid"`},
		{`{"kind":"a","\u212Aind":"b"}`, `in the top-level object`},
	}
	for _, c := range cases {
		err := UniqueKeys([]byte(c.in))
		switch {
		case c.where == "" && err != nil:
			t.Errorf("%s: %v", c.in, err)
		case c.where != "" && !errors.Is(err, ErrDuplicateKey):
			t.Errorf("%s: err %v, want a duplicate key", c.in, err)
		case c.where != "" && !strings.Contains(err.Error(), c.where):
			t.Errorf("%s: %v, want it to name %s", c.in, err, c.where)
		}
	}
	if err := UniqueKeys([]byte(`{"a":`)); err == nil || errors.Is(err, ErrDuplicateKey) {
		t.Errorf("truncated JSON: %v", err)
	}
}

// TestUniqueKeysMessage: the key and the path in the error are escaped for
// one line of text and cut, whatever the keys hold.
func TestUniqueKeysMessage(t *testing.T) {
	long := strings.Repeat("k", 1<<20)
	in := `{"a\u001b[2J\nFAKE LOG":{"` + long + `":1,"` + long + `":2}}`
	err := UniqueKeys([]byte(in))
	if !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("err %v", err)
	}
	m := err.Error()
	if len(m) > 300 || strings.ContainsAny(m, "\x1b\n") || !strings.Contains(m, `a\x1b[2J\nFAKE LOG`) {
		t.Errorf("message %d bytes: %.300q", len(m), m)
	}
}

// TestUniqueKeysDeepNesting: the deepest nesting encoding/json accepts,
// with 100-byte keys (a 1 MB document), is checked in memory of the order
// of the input: the path is built only for the error (it held each
// frame's whole path before, 4.9 GB here).
func TestUniqueKeysDeepNesting(t *testing.T) {
	const depth = 9999
	key := strings.Repeat("k", 100)
	var b strings.Builder
	for range depth {
		b.WriteString(`{"` + key + `":`)
	}
	b.WriteString("1")
	b.WriteString(strings.Repeat("}", depth))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if err := UniqueKeys([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 64<<20 {
		t.Errorf("%d-deep document of %d bytes: %d MB allocated", depth, b.Len(), got>>20)
	}
}
