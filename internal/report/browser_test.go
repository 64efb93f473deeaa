package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/report/browser"
)

// checkNotBlank fails unless the screenshot is a real PNG of at least
// minW × minH pixels whose luminance varies (standard deviation ≥ 20 grey
// levels) over many distinct colours: a page that failed to render or
// lost its images is one flat colour.
func checkNotBlank(t *testing.T, name string, shot []byte, minW, minH int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("%s: screenshot is not a PNG: %v", name, err)
	}
	b := img.Bounds()
	if b.Dx() < minW || b.Dy() < minH {
		t.Errorf("%s: screenshot %v, want at least %d×%d", name, b, minW, minH)
	}
	var n, sum, sum2 float64
	colours := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			n++
			sum += l
			sum2 += l * l
			if len(colours) < 5000 {
				colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			}
		}
	}
	mean := sum / n
	sd := sum2/n - mean*mean
	if sd < 20*20 || len(colours) < 200 {
		t.Errorf("%s: screenshot looks blank: luminance sd %.1f, %d colours", name, sqrt(sd), len(colours))
	}
	return img
}

func sqrt(x float64) float64 {
	if x <= 0 {
		return 0
	}
	z := x
	for i := 0; i < 40; i++ {
		z = (z + x/z) / 2
	}
	return z
}

// noProblems fails on console errors, exceptions, log errors (CSP
// violations, blocked loads), warnings, and any request that is neither
// the local file nor an embedded data: URL.
func noProblems(t *testing.T, name string, p *browser.Page) {
	t.Helper()
	if probs := p.Problems(); len(probs) > 0 {
		t.Errorf("%s: browser reported problems:\n%s", name, strings.Join(probs, "\n"))
	}
	if w := p.Warnings(); len(w) > 0 {
		t.Errorf("%s: browser warnings:\n%s", name, strings.Join(w, "\n"))
	}
	for _, u := range p.Requests() {
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:image/png;base64,") {
			t.Errorf("%s: page requested %.100s", name, u)
		}
	}
}

// TestReportInBrowser loads a generated report and index in headless
// Chromium and checks what a reader gets: no console errors, every
// finding card, images decoded, hostile text shown as text, a non-blank
// page on screen and in print, a page that fits a laptop screen, a
// working sort and a working link from the index to the report.
// LUNGCTL_REPORT_SCREENSHOT=FILE.png keeps the report's screenshot.
func TestReportInBrowser(t *testing.T) {
	exe := browser.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "P-007"), 0o755); err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(dir, "P-007", "report.html")
	if err := WritePatient(reportPath, testPatient(t)); err != nil {
		t.Fatal(err)
	}
	indexPath := filepath.Join(dir, "index.html")
	if err := WriteIndex(indexPath, testSummaries()); err != nil {
		t.Fatal(err)
	}
	b, err := browser.Start(ctx, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// The report, at a laptop's viewport.
	p, err := b.Open(ctx, "file://"+reportPath, 1280, 800)
	if err != nil {
		t.Fatal(err)
	}
	var dom struct {
		Findings    int      `json:"findings"`
		Labels      []string `json:"labels"`
		Images      int      `json:"images"`
		Decoded     int      `json:"decoded"`
		Scripts     int      `json:"scripts"`
		ID          string   `json:"id"`
		Overflow    int      `json:"overflow"`
		TableRows   int      `json:"rows"`
		Disclaimer  bool     `json:"disclaimer"`
		ImageWidths []int    `json:"widths"`
	}
	err = p.EvalInto(ctx, `(() => {
		const cards = [...document.querySelectorAll("[data-finding]")];
		const imgs = [...document.images];
		return {
			findings: cards.length,
			labels: cards.map(c => c.querySelector("h2").textContent.replace(/^\d+\. /, "")),
			images: imgs.length,
			decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
			scripts: document.scripts.length,
			id: document.querySelector("[data-field=id]").textContent,
			overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
			rows: document.querySelectorAll("table.findings tbody tr").length,
			disclaimer: /Not a diagnosis/.test(document.querySelector(".disclaimer").textContent),
			widths: [...document.querySelectorAll("[data-finding] figure img")].slice(0, 3).map(i => Math.round(i.getBoundingClientRect().width)),
		};
	})()`, &dom)
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, "report", p)
	if dom.Findings != 3 || dom.TableRows != 3 || strings.Join(dom.Labels, ",") != strings.Join(wantOrder, ",") {
		t.Errorf("report DOM: %d finding cards %v, %d table rows; want 3 cards %v", dom.Findings, dom.Labels, dom.TableRows, wantOrder)
	}
	if dom.Images != 19 || dom.Decoded != 19 {
		t.Errorf("report: %d of %d images decoded, want 19 of 19", dom.Decoded, dom.Images)
	}
	if dom.Scripts != 0 || dom.ID != hostileID {
		t.Errorf("hostile id: %d scripts in the DOM, id shown as %q (want 0 and the id as text)", dom.Scripts, dom.ID)
	}
	if dom.Overflow > 0 {
		t.Errorf("report is %d px wider than a 1280 px window", dom.Overflow)
	}
	if !dom.Disclaimer {
		t.Error("no disclaimer")
	}
	for _, w := range dom.ImageWidths { // three side by side in a ≤ 1200 px column
		if w < 250 || w > 400 {
			t.Errorf("finding image shown %d px wide, want three side by side (250–400 px)", w)
		}
	}
	shot, err := p.Screenshot(ctx, true, 2400)
	if err != nil {
		t.Fatal(err)
	}
	checkNotBlank(t, "report", shot, 1280, 1600)
	// In print: still all there, and it prints.
	if err := p.EmulateMedia(ctx, "print"); err != nil {
		t.Fatal(err)
	}
	shot, err = p.Screenshot(ctx, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkNotBlank(t, "report (print media)", shot, 1280, 800)
	pdf, err := p.PrintPDF(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF")) || len(pdf) < 50<<10 {
		t.Errorf("printed PDF: %d bytes", len(pdf))
	}
	noProblems(t, "report (printed)", p)
	closePage(ctx, t, p)
	if out := os.Getenv("LUNGCTL_REPORT_SCREENSHOT"); out != "" {
		saveScreenshot(ctx, t, b, dir, out)
	}

	// The index: order, failures shown, sorting by click, link to the report.
	p, err = b.Open(ctx, "file://"+indexPath, 1280, 800)
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Rows    []string `json:"rows"`
		Failed  int      `json:"failed"`
		Buttons int      `json:"buttons"`
		Sorted  []string `json:"sorted"`
		Link    string   `json:"link"`
	}
	err = p.EvalInto(ctx, `(() => {
		const ids = () => [...document.querySelectorAll("#patients tbody tr")].map(r => r.cells[1].textContent);
		const rows = ids();
		const buttons = document.querySelectorAll("#patients th button");
		buttons[5].click(); // findings, ascending
		const sorted = ids();
		const a = [...document.querySelectorAll("#patients a")].find(a => a.textContent.startsWith("P-007"));
		return {rows, failed: document.querySelectorAll("tr.failed").length, buttons: buttons.length, sorted, link: a ? a.href : ""};
	})()`, &idx)
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, "index", p)
	if strings.Join(idx.Rows, "|") != strings.Join(wantIndexOrder, "|") || idx.Failed != 1 {
		t.Errorf("index rows %q (%d failed), want %q (1 failed)", idx.Rows, idx.Failed, wantIndexOrder)
	}
	// Ascending by findings: unknown (0), low (1), mid (2), P-007 (3); failed last.
	if want := []string{"unknown", "low", "mid", hostileID, "broken <scan>"}; idx.Buttons != 8 || strings.Join(idx.Sorted, "|") != strings.Join(want, "|") {
		t.Errorf("after sorting by findings: %q (%d buttons), want %q", idx.Sorted, idx.Buttons, want)
	}
	checkNotBlank(t, "index", mustShot(ctx, t, p), 1280, 800)
	closePage(ctx, t, p)
	if idx.Link != "file://"+filepath.ToSlash(reportPath) {
		t.Fatalf("index links the report as %q, want file://%s", idx.Link, reportPath)
	}
	p, err = b.Open(ctx, idx.Link, 1280, 800)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.EvalInto(ctx, `document.querySelectorAll("[data-finding]").length`, &n); err != nil || n != 3 {
		t.Errorf("following the index link: %d findings, %v", n, err)
	}
	closePage(ctx, t, p)
}

func mustShot(ctx context.Context, t *testing.T, p *browser.Page) []byte {
	t.Helper()
	shot, err := p.Screenshot(ctx, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	return shot
}

// saveScreenshot writes a screenshot of a report with plain ids (the
// hostile one would make a poor picture for the README) to out.
func saveScreenshot(ctx context.Context, t *testing.T, b *browser.Browser, dir, out string) {
	t.Helper()
	pt := testPatient(t)
	pt.ID, pt.Input = "LUNA-demo-0001", "/data/luna16/subset0/demo-0001.mhd"
	pt.Generated = time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)
	path := filepath.Join(dir, "demo.html")
	if err := WritePatient(path, pt); err != nil {
		t.Fatal(err)
	}
	p, err := b.Open(ctx, "file://"+path, 1280, 800)
	if err != nil {
		t.Fatal(err)
	}
	defer closePage(ctx, t, p)
	shot, err := p.Screenshot(ctx, true, 2000)
	if err != nil {
		t.Fatal(err)
	}
	checkNotBlank(t, "demo report", shot, 1280, 1600)
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report screenshot: %s", out)
}

// closePage closes p, failing the test when the browser does not.
func closePage(ctx context.Context, t *testing.T, p *browser.Page) {
	t.Helper()
	if err := p.Close(ctx); err != nil {
		t.Error(err)
	}
}
