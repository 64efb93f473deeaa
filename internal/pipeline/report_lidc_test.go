package pipeline

import (
	"bytes"
	"context"
	"image"
	"image/color/palette"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/report/browser"
)

// TestReportLIDCInBrowser processes LIDC-IDRI-0001 with a report, opens it
// in headless Chromium and checks what a reader sees: no console errors,
// CSP violations or requests, one finding section per candidate, the
// pictures decoded at their own size, the candidate nearest the LUNA16
// nodule present. With LUNGCTL_SCREENSHOT=path it also writes the top of
// the page, 1200 px wide, as the README's picture.
func TestReportLIDCInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("processes LIDC-IDRI-0001 (several seconds) and starts Chromium")
	}
	dir := needShared(t, "lidc-idri-0001")
	exe := browser.Require(t)
	out := t.TempDir()
	// The patient probability as the CLI's defaults give it (--top-k,
	// --leak), so that the screenshot shows what a user sees.
	w := &Worker{Opt: ScanOptions{Report: true,
		Score: ScoreOptions{NoisyORK: classify.DefaultNoisyORK, NoisyORLeak: classify.DefaultNoisyORLeak}}}
	rec, cs, err := w.Process(context.Background(), dir, out)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, ReportName(rec.ID))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := browser.Start(ctx, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.Open(ctx, "file://"+path, 1200, 900)
	if err != nil {
		t.Fatal(err)
	}
	if probs := p.Problems(); len(probs) > 0 {
		t.Errorf("browser problems:\n%s", strings.Join(probs, "\n"))
	}
	for _, u := range p.Requests() {
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:image/png;base64,") {
			t.Errorf("the report requested %.100s", u)
		}
	}
	var n, broken int
	if err := p.EvalInto(ctx, `document.querySelectorAll('[data-finding]').length`, &n); err != nil {
		t.Fatal(err)
	}
	if n != len(cs) {
		t.Errorf("%d finding sections for %d candidates", n, len(cs))
	}
	if err := p.EvalInto(ctx, `[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length`, &broken); err != nil {
		t.Fatal(err)
	}
	if broken > 0 {
		t.Errorf("%d images did not decode", broken)
	}
	// The page down to the overview's end, then the most malignant
	// finding's section scrolled into the viewport.
	var bottom, y float64
	if err := p.EvalInto(ctx, `document.querySelector('.overview').getBoundingClientRect().bottom + window.scrollY + 10`, &bottom); err != nil {
		t.Fatal(err)
	}
	top, err := p.Screenshot(ctx, true, int(bottom))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.EvalInto(ctx, `(() => { const e = document.querySelector('[data-finding="1"]');
		window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 10); return window.scrollY; })()`, &y); err != nil {
		t.Fatal(err)
	}
	card, err := p.Screenshot(ctx, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if dst := os.Getenv("LUNGCTL_SCREENSHOT"); dst != "" {
		writeScreenshot(t, dst, top, card)
	}
}

// writeScreenshot stores the screenshots one above the other as a small
// paletted PNG (the README's picture must stay small).
func writeScreenshot(t *testing.T, path string, shots ...[]byte) {
	t.Helper()
	var imgs []image.Image
	w, h := 0, 0
	for _, s := range shots {
		img, err := png.Decode(bytes.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
		w, h = max(w, img.Bounds().Dx()), h+img.Bounds().Dy()
	}
	pal := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	y := 0
	for _, img := range imgs {
		r := image.Rect(0, y, img.Bounds().Dx(), y+img.Bounds().Dy())
		draw.FloydSteinberg.Draw(pal, r, img, img.Bounds().Min)
		y += img.Bounds().Dy()
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, pal); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d×%d, %d bytes", path, w, h, buf.Len())
}
