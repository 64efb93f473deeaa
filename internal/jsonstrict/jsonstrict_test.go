package jsonstrict

import (
	"errors"
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
		{`{"a":1,"a":2}`, `"a" in the top-level object`},
		{`{"a":1,"\u0061":2}`, `"a" in the top-level object`},
		{`{"card":{"training":{"lr":1,"n":[1,2],"lr":2}}}`, `"lr" in card.training`},
		{`{"x":[{"k":1},{"k":1,"k":2}]}`, `"k" in x[]`},
		{`{"o":{"p":1},"q":{"r":{},"s":2},"q":3}`, `"q" in the top-level object`},
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
