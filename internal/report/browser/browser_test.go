package browser

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowserSeesWhatAReaderSees loads a clean page and broken ones and
// checks that the harness reports exactly the problems planted: without
// this, a report test that finds "no console errors" would prove nothing.
func TestBrowserSeesWhatAReaderSees(t *testing.T) {
	exe := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Start(ctx, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	page := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>"+body+"</body></html>"), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	cases := []struct {
		name, body string
		want       string // substring of a problem; "" = none
	}{
		{"clean.html", `<div data-x>1</div><div data-x style="background:#c33;height:300px">2</div><script>console.log("hello")</script>`, ""},
		{"console.html", `<script>console.error("planted console error")</script>`, "planted console error"},
		{"throw.html", `<script>null.f()</script>`, "uncaught exception"},
		{"external.html", `<img src="http://127.0.0.1:9/x.png">`, "network"},
	}
	for _, c := range cases {
		p, err := b.Open(ctx, page(c.name, c.body), 800, 600)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		probs := p.Problems()
		t.Logf("%s: problems %q warnings %q requests %d", c.name, probs, p.Warnings(), len(p.Requests()))
		if c.want == "" && len(probs) > 0 {
			t.Errorf("%s: problems %q in a clean page", c.name, probs)
		}
		if c.want != "" && !strings.Contains(strings.Join(probs, "\n"), c.want) {
			t.Errorf("%s: problems %q, want one with %q (console: %q)", c.name, probs, c.want, p.Console())
		}
		if c.name == "clean.html" {
			var n int
			if err := p.EvalInto(ctx, `document.querySelectorAll("[data-x]").length`, &n); err != nil || n != 2 {
				t.Errorf("count: %d %v", n, err)
			}
			if !strings.Contains(strings.Join(p.Console(), "\n"), "hello") {
				t.Errorf("console.log not seen: %q", p.Console())
			}
			shot, err := p.Screenshot(ctx, true, 0)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil || img.Bounds().Dx() != 800 {
				t.Fatalf("screenshot: %v %v", err, img.Bounds())
			}
			// The red block is there.
			r, g, _, _ := img.At(400, 150).RGBA()
			if r>>8 < 150 || g>>8 > 100 {
				t.Errorf("screenshot pixel at the red block: %v", img.At(400, 150))
			}
			pdf, err := p.PrintPDF(ctx)
			if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) {
				t.Errorf("PDF: %v %q", err, pdf[:min(8, len(pdf))])
			}
			if _, err := p.Eval(ctx, `undefinedThing.x`); err == nil {
				t.Error("Eval of a throwing expression succeeded")
			}
		}
		if err := p.Close(ctx); err != nil {
			t.Error(err)
		}
	}
}
