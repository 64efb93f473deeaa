package textsafe

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain name/é":          "plain name/é",
		"a\nlevel=ERROR forged": `a\nlevel=ERROR forged`,
		"\x1b[31mred\x1b[0m":    `\x1b[31mred\x1b[0m`,
		"tab\there\r":           `tab\there\r`,
		"evil\u202egnp.exe":     `evil\u202egnp.exe`,
		"bad\xffutf8":           `bad\xffutf8`,
		"c1\u0085x":             `c1\u0085x`,
		"nul\x00":               `nul\x00`,
		`back\slash`:            `back\slash`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if Clean(in) != (in == want) {
			t.Errorf("Clean(%q) = %v", in, Clean(in))
		}
	}
}
