package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/render"
	"github.com/lungctl/lungctl/internal/volume"
)

func renderPatient(t *testing.T, p Patient) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderPatient(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func renderIndex(t *testing.T, ss []Summary) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderIndex(&b, ss); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var attrRe = regexp.MustCompile(`(?i)\b(src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"`)

// TestSelfContained: nothing in either page points outside it. Every src
// is an embedded PNG, every href a fragment (report) or a relative path
// (index), and no http(s) URL appears anywhere, CSS url() included.
func TestSelfContained(t *testing.T) {
	report := renderPatient(t, testPatient(t))
	index := renderIndex(t, testSummaries())
	for name, page := range map[string]string{"report": report, "index": index} {
		for _, bad := range []string{"http://", "https://", "url(", "@import", "//cdn", "<link", "<iframe", "<object", "<embed"} {
			if strings.Contains(strings.ToLower(page), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		nsrc := 0
		for _, m := range attrRe.FindAllStringSubmatch(page, -1) {
			attr, val := strings.ToLower(m[1]), m[2]
			switch {
			case attr == "src" && strings.HasPrefix(val, "data:image/png;base64,"):
				nsrc++
			case attr == "href" && name == "report" && strings.HasPrefix(val, "#finding-"):
			case attr == "href" && name == "index" && strings.HasPrefix(val, "./"):
			default:
				t.Errorf("%s: %s=%q points outside the page", name, attr, val[:min(len(val), 80)])
			}
		}
		if name == "report" && nsrc != 1+3*6 {
			t.Errorf("report: %d embedded images, want 19 (overview + 3 findings × 3 planes × 2 windows)", nsrc)
		}
	}
	if strings.Contains(report, "<script") {
		t.Error("the patient report has a script")
	}
	if n := strings.Count(index, "<script"); n != 1 {
		t.Errorf("index has %d scripts, want its own one", n)
	}
}

// TestHostileTextEscaped: ids, file names, warnings, labels and captions
// that carry markup come out as text.
func TestHostileTextEscaped(t *testing.T) {
	p := testPatient(t)
	p.Input = `C:\in\"><img src=x onerror=alert(3)>`
	p.Warnings = append(p.Warnings, "</style><script>alert(4)</script>", "line one\nline two")
	p.Clinical = append(p.Clinical, KV{Key: `<b onclick="x">Age</b>`, Value: `"'><svg onload=alert(5)>`})
	p.Findings[0].Label = `<script>alert(6)</script>`
	p.Findings[0].Type = `solid" onmouseover="alert(7)`
	p.Findings[0].LungRADS = `4B" class="x`
	p.Findings[0].Images[0].Title = `</figcaption><script>alert(8)</script>`
	p.ModelSHA256 = "<i>sha</i>"
	p.Scorer = "<u>mine</u>"
	report := renderPatient(t, p)
	index := renderIndex(t, append(testSummaries(), Summary{ID: "<svg/onload=alert(9)>", Href: `x"onmouseover="alert(10)`}))
	for name, page := range map[string]string{"report": report, "index": index} {
		for _, raw := range []string{"<script>alert", "<img src=x", "<svg", `" onmouseover="`, `"onmouseover="`,
			"<b onclick", "<i>sha", "<u>mine", `class="x"`, "</style><script"} {
			if strings.Contains(page, raw) {
				t.Errorf("%s: raw %q survived", name, raw)
			}
		}
	}
	for _, esc := range []string{"P-007&#34;&gt;&lt;script&gt;alert(&#39;id&#39;)&lt;/script&gt;", "&lt;script&gt;alert(6)&lt;/script&gt;",
		"&lt;/style&gt;&lt;script&gt;alert(4)&lt;/script&gt;", "&amp;amp;"} {
		if !strings.Contains(report, esc) {
			t.Errorf("report lacks the escaped form %q", esc)
		}
	}
	// The id's newline stays inside the text (no new element, no broken
	// attribute); the title carries it escaped too.
	if !strings.Contains(report, "<title>Nodule report: P-007&#34;&gt;&lt;script&gt;") {
		t.Errorf("title not escaped: %s", report[strings.Index(report, "<title>"):][:120])
	}
	if !strings.Contains(index, `href="./javascript:alert%281%29"`) && !strings.Contains(index, `href="./javascript:alert(1)"`) {
		t.Errorf("javascript: href not neutralised: %v", attrRe.FindAllString(index, -1))
	}
	if !strings.Contains(index, `href="./dir%20with%20space/r%25e.html"`) {
		t.Errorf("href segments not percent-encoded: %v", attrRe.FindAllString(index, -1))
	}
}

// findingLabels lists the finding cards' labels in page order.
func findingLabels(page string) []string {
	re := regexp.MustCompile(`data-finding="\d+">\s*<header>\s*<h2>\d+\. ([^<]*)</h2>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestMalignancyOrder(t *testing.T) {
	p := testPatient(t)
	page := renderPatient(t, p)
	if got := findingLabels(page); strings.Join(got, ",") != strings.Join(wantOrder, ",") {
		t.Errorf("finding cards in order %v, want %v", got, wantOrder)
	}
	if p.Findings[0].Label != "N1" {
		t.Error("RenderPatient reordered the caller's slice")
	}
	// Under the CNN scorer the CNN's probabilities order them.
	p.Scorer = "cnn"
	p.Findings[2].CNN = 0.01 // N3 now last
	if got := findingLabels(renderPatient(t, p)); strings.Join(got, ",") != "N2,N1,N3" {
		t.Errorf("cnn order %v, want N2,N1,N3", got)
	}
	nan := math.NaN()
	fs := []Finding{
		{Label: "none", Brock: nan, CNN: nan, DetectScore: 0.99, Rank: 1},
		{Label: "tieLowDet", Brock: 0.2, CNN: nan, DetectScore: 0.5, Rank: 2},
		{Label: "tieHighDet", Brock: 0.2, CNN: 0.9, DetectScore: 0.7, Rank: 3},
		{Label: "tieNaNDet", Brock: 0.2, DetectScore: nan, Rank: 4},
		{Label: "bad", Brock: 7, CNN: 0.3, DetectScore: 0.1, Rank: 5}, // Brock out of range: CNN used
		{Label: "noneRank0", Brock: nan, CNN: nan, DetectScore: 0.99},
	}
	Sort(fs, "fused")
	var got []string
	for _, f := range fs {
		got = append(got, f.Label)
	}
	// Keys: tieNaNDet 0.2 (no detection score: malignancy alone),
	// tieHighDet 0.2·0.7, tieLowDet 0.2·0.5, bad 0.3·0.1 (its CNN, Brock
	// being out of range), then the two without malignancy by detection
	// score and rank.
	if want := "tieNaNDet,tieHighDet,tieLowDet,bad,none,noneRank0"; strings.Join(got, ",") != want {
		t.Errorf("Sort: %v, want %s", got, want)
	}
	if m := Malignancy(Finding{Brock: -1, CNN: math.Inf(1)}, "brock"); !math.IsNaN(m) {
		t.Errorf("Malignancy of invalid values = %v", m)
	}
}

func TestContentAndUnits(t *testing.T) {
	p := testPatient(t)
	p.Generated = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	page := renderPatient(t, p)
	for _, want := range []string{
		"Not a diagnosis.", "Research software",
		"Cancer probability (%)", "35.1", "scored by Brock (PanCan) model", `data-field="lungrads">4B<`,
		"Emphysema (% of lung voxels &lt; −950 HU)", "7.2", // 7.25 rounds to even
		"Long × short axis (mm)", "Long × short <span class=\"unit\">axis (mm)</span>", "Volume <span class=\"unit\">(mm³)</span>",
		"Brock <span class=\"unit\">(%)</span>", "CNN <span class=\"unit\">(%)</span>",
		`Family history of lung cancer</dt><dd class="defaulted">no<span class="mark"`,
		p.ModelSHA256, "v0.9.0-test", "2 slices missing", "2026-03-04T05:06:07Z",
		"axial · lung W 1500 L -600 HU · 0.14 mm/px", "sagittal · mediastinum W 350 L 40 HU",
		`<td class="num"><b>31.0</b></td>`, "upper", "lower/middle",
		"Kernel blur σ</dt><dd>0.61 mm (read from the air–skin edge)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(page, "data-finding="); n != 3 {
		t.Errorf("%d finding cards, want 3", n)
	}
	// The Malignancy column holds the scorer's probability (31.0 above is
	// a Brock of 0.31 whatever its detection score); the note must say so,
	// and that the order weighs it by the detection score.
	if want := "Malignancy is the Brock probability (the CNN&#39;s where Brock was not computed); findings are ordered by malignancy × detection score."; !strings.Contains(page, want) {
		t.Errorf("report lacks %q", want)
	}
	if strings.Contains(page, "Malignancy is the Brock probability ×") {
		t.Error("the note says the Malignancy column is weighted by detection; it is not")
	}
	// The vendor's kernel name, when the DICOM gives one, follows the blur
	// read from the scan, escaped like any header value.
	p.ConvolutionKernel = `B70f<i>`
	if page := renderPatient(t, p); !strings.Contains(page, "0.61 mm (read from the air–skin edge); DICOM kernel B70f&lt;i&gt;") {
		t.Error("report lacks the DICOM kernel name after the kernel blur, escaped")
	}
	p.ConvolutionKernel = ""
	// A scan whose kernel blur could not be read says what was assumed.
	p.KernelSigmaMM = 0
	if page := renderPatient(t, p); !strings.Contains(page, "not read from the scan (a standard kernel&#39;s 0.45 mm assumed)") {
		t.Error("a report without a read kernel blur does not say the standard one was assumed")
	}
	if strings.Contains(page, "reported (detection score") {
		t.Error("report counts reported findings though no threshold was given")
	}
	// The report threshold and count, when given: the patient's category
	// is the reported findings' most suspicious.
	p.ReportThreshold, p.Reported = 0.35, 2
	page = renderPatient(t, p)
	for _, want := range []string{"2 reported (detection score ≥ 0.35); ordered by", "the most suspicious reported finding&#39;s (detection score ≥ 0.35)"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, `class="unreported"`) {
		t.Error("a finding at or above the threshold is greyed")
	}
	// Findings below the threshold (detection 0.9, 0.8, 0.7 against 0.75)
	// are greyed in the table and labelled on their card.
	p.ReportThreshold = 0.75
	page = renderPatient(t, p)
	if n := strings.Count(page, `class="unreported"`); n != 1 {
		t.Errorf("%d greyed rows, want 1", n)
	}
	if n := strings.Count(page, "not reported (detection score below 0.75)"); n != 1 {
		t.Errorf("%d cards labelled not reported, want 1", n)
	}
	// Not computed and broken inputs: no panic, dashes, "image unavailable".
	q := Patient{CancerProbability: math.NaN(), EmphysemaPct: math.Inf(1), Overview: []byte("GIF89a"),
		Findings: []Finding{{Brock: math.NaN(), CNN: 1.5, LongAxisMM: math.NaN(), Images: []Image{{PNG: []byte{0x89, 'P'}}, {Title: "empty"}}}}}
	page = renderPatient(t, q)
	for _, want := range []string{`data-field="probability">—<`, "image unavailable (not a PNG)", "no image", "unspecified scorer", "image 1", "Patient <span data-field=\"id\">—</span>"} {
		if !strings.Contains(page, want) {
			t.Errorf("degenerate report lacks %q", want)
		}
	}
	if page := renderPatient(t, Patient{}); !strings.Contains(page, "No findings were reported") || strings.Contains(page, "data-finding=") {
		t.Error("empty patient: findings section wrong")
	}
	for p, want := range map[float64]string{0: "0.0", 1: "100.0", 0.0004: "< 0.1", -0.1: "invalid (-0.1)", math.NaN(): "—"} {
		if got := pct(p); got != want {
			t.Errorf("pct(%v) = %q, want %q", p, got, want)
		}
	}
}

func TestIndex(t *testing.T) {
	page := renderIndex(t, testSummaries())
	re := regexp.MustCompile(`<tr data-patient="\d+"(?: class="failed")?>\s*<td[^>]*>\d+</td>\s*<td data-v="([^"]*)"`)
	var got []string
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		got = append(got, m[1])
	}
	var want []string
	for _, id := range wantIndexOrder {
		want = append(want, escapeAttr(id))
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("index rows %q, want %q", got, want)
	}
	for _, s := range []string{`class="failed"`, "failed: dicomio: /in/broken: no DICOM series found", `data-field="failed">1<`,
		"Cancer probability <span class=\"unit\">(%)</span>", "ok, 2 warning(s)", "35.1"} {
		if !strings.Contains(page, s) {
			t.Errorf("index lacks %q", s)
		}
	}
	// A failed scan shows no (stale) probability, scorer or category.
	fr := page[strings.Index(page, `class="failed"`):]
	fr = fr[:strings.Index(fr, "</tr>")]
	if strings.Contains(fr, "90.0") || strings.Contains(fr, "CNN") || strings.Count(fr, ">—<") < 3 {
		t.Errorf("failed row shows stale values: %s", fr)
	}
	// The script may run under the page's CSP: its hash is the one listed.
	i, j := strings.Index(page, "<script>"), strings.Index(page, "</script>")
	if i < 0 || j < i {
		t.Fatal("no script")
	}
	h := sha256.Sum256([]byte(page[i+len("<script>") : j]))
	if !strings.Contains(html.UnescapeString(page), "script-src 'sha256-"+base64.StdEncoding.EncodeToString(h[:])+"'") {
		t.Error("the CSP does not list the script's hash: the browser would block it")
	}
	if page := renderIndex(t, nil); !strings.Contains(page, "No patients in this batch") {
		t.Error("empty index")
	}
	pt := testPatient(t)
	s := pt.Summary("P-007/report.html")
	if s.Findings != 3 || s.Warnings != 2 || s.LungRADS != "4B" || s.ID != hostileID || s.Reported != -1 {
		t.Errorf("Summary = %+v", s)
	}
	// The reported count, when the patient says it, and its column.
	pt.ReportThreshold, pt.Reported = 0.35, 2
	if s = pt.Summary("P-007/report.html"); s.Reported != 2 {
		t.Errorf("Summary.Reported = %d, want 2", s.Reported)
	}
	page = renderIndex(t, []Summary{s})
	if !strings.Contains(page, "Reported <span class=\"unit\">(n)</span>") || !strings.Contains(page, `<td class="num" data-v="2">2</td>`) {
		t.Error("index lacks the reported count")
	}
}

// escapeAttr is html/template's escaping of text in an attribute value,
// for the few characters the test ids use.
func escapeAttr(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "'", "&#39;", "<", "&lt;", ">", "&gt;", "&", "&amp;").Replace(s)
}

func TestWriteAtomicAndErrors(t *testing.T) {
	dir := t.TempDir()
	p := testPatient(t)
	path := filepath.Join(dir, "report.html")
	if err := WritePatient(path, p); err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(filepath.Join(dir, "index.html"), testSummaries()); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("folder holds %d entries, want the 2 pages and no temporary file", len(ents))
	}
	missing := filepath.Join(dir, "no", "such", "report.html")
	for _, err := range []error{WritePatient(missing, p), WriteIndex(missing, nil)} {
		if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("write into a missing folder: %v (want an error naming the file, wrapping ErrNotExist)", err)
		}
	}
}

func TestFindingImages(t *testing.T) {
	v := sourceVolume()
	ims, err := FindingImages(v, [3]float64{0, 0, 0}, 6, render.PlaneOptions{FOVMM: 30}, render.Window{}, render.Window{Width: 400, Level: 40})
	if err != nil || len(ims) != 6 {
		t.Fatalf("%d images, %v", len(ims), err)
	}
	if !strings.HasPrefix(ims[0].Title, "axial · lung W 1500 L -600 HU") || !strings.HasPrefix(ims[5].Title, "sagittal · W 400 L 40 HU") {
		t.Errorf("titles %q / %q", ims[0].Title, ims[5].Title)
	}
	if _, err := FindingImages(v, [3]float64{math.NaN(), 0, 0}, 6, render.PlaneOptions{}); err == nil {
		t.Error("NaN centre accepted")
	}
	if _, err := FindingImages(&volume.Volume[int16]{}, [3]float64{}, 6, render.PlaneOptions{}); !errors.Is(err, render.ErrEmpty) {
		t.Errorf("empty volume: %v", err)
	}
}

// FuzzRenderPatient: any text and any image bytes render without error
// or panic, and text never becomes markup.
func FuzzRenderPatient(f *testing.F) {
	f.Add("P-1", "N1", "solid", "4B", []byte("\x89PNG\r\n\x1a\n"), 0.5)
	f.Add("<script>x</script>", "\"'><", "\x00\xff", "", []byte{}, math.NaN())
	f.Fuzz(func(t *testing.T, id, label, kind, cat string, img []byte, p float64) {
		pt := Patient{ID: id, Input: label, Scorer: kind, LungRADS: cat, CancerProbability: p, EmphysemaPct: p, Overview: img,
			Warnings: []string{id}, Clinical: []KV{{label, id, true}},
			Findings: []Finding{{Label: label, Type: kind, LungRADS: cat, Brock: p, CNN: -p, DetectScore: p, Images: []Image{{Title: id, PNG: img}}}}}
		var b bytes.Buffer
		if err := RenderPatient(&b, pt); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "<script") || strings.Count(b.String(), "data-finding=") != 1 {
			t.Fatalf("markup from text: %q", b.String())
		}
		b.Reset()
		if err := RenderIndex(&b, []Summary{pt.Summary(id), {ID: label, Error: kind, Href: cat}}); err != nil {
			t.Fatal(err)
		}
		if strings.Count(b.String(), "<script") != 1 {
			t.Fatalf("markup from text in the index: %q", b.String())
		}
	})
}
