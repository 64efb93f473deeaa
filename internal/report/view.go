package report

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/png"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lungctl/lungctl/internal/risk"
)

//go:embed assets/report.css assets/sort.js assets/patient.html.tmpl assets/index.html.tmpl
var assets embed.FS

var (
	styleCSS   = mustAsset("assets/report.css")
	sortJS     = mustAsset("assets/sort.js")
	sortJSHash = "sha256-" + base64.StdEncoding.EncodeToString(func() []byte { h := sha256.Sum256([]byte(sortJS)); return h[:] }())

	patientTmpl = template.Must(template.New("patient.html.tmpl").ParseFS(assets, "assets/patient.html.tmpl"))
	indexTmpl   = template.Must(template.New("index.html.tmpl").ParseFS(assets, "assets/index.html.tmpl"))
)

func mustAsset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

// Content-Security-Policy of the pages: nothing may be fetched; images
// only from data: URLs; the index may run its own script only (by hash).
const cspBase = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

const dash = "—"

// imageView is an Image ready for the template.
type imageView struct {
	Title string
	Src   template.URL // data:image/png;base64,...; empty when not a PNG
	W, H  int
	Why   string // why there is no image
}

func newImageView(title string, b []byte) imageView {
	v := imageView{Title: title}
	if len(b) == 0 {
		v.Why = "no image"
		return v
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		v.Why = "image unavailable (not a PNG)"
		return v
	}
	v.W, v.H = cfg.Width, cfg.Height
	// Safe as a URL: a fixed scheme and the base64 alphabet only.
	v.Src = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
	return v
}

type findingView struct {
	N                              int
	Anchor                         string
	Label, Type, LungRADS, LRClass string
	Axes, Long, Short, Mean        string
	Volume, Solid, Spiculation     string
	Lobulation, Pleura             string
	Zone, Brock, CNN, Detect       string
	Malignancy, Rank, Centre       string
	// Unreported: the detection score is below the patient's report
	// threshold (the row is greyed).
	Unreported bool
	Images     []imageView
}

type patientView struct {
	CSS       template.CSS
	CSP       string
	P         Patient
	Title     string
	Prob      string
	Scorer    string
	SortBasis string
	// MalBasis says what the Malignancy column holds (Malignancy: the
	// scorer's probability, not weighted by detection).
	MalBasis  string
	Reported  string
	ReportAt  string
	LRBasis   string
	LungRADS  string
	LRClass   string
	Emph      string
	EmphSub   string
	Kernel    string
	Defaulted bool
	Overview  imageView
	Findings  []findingView
	Generated string
}

func newPatientView(p Patient) patientView {
	v := patientView{CSS: template.CSS(styleCSS), CSP: cspBase + "; script-src 'none'", P: p,
		Title: "Nodule report: " + orDash(p.ID), Prob: pct(p.CancerProbability), Scorer: scorerName(p.Scorer),
		LungRADS: orDash(p.LungRADS), LRClass: lrClass(p.LungRADS), Emph: num(p.EmphysemaPct, 1),
		Kernel: "not read from the scan (a standard kernel's 0.45 mm assumed)"}
	if isFinite(p.KernelSigmaMM) && p.KernelSigmaMM > 0 {
		v.Kernel = num(p.KernelSigmaMM, 2) + " mm (read from the air–skin edge)"
	}
	if p.ConvolutionKernel != "" {
		v.Kernel += "; DICOM kernel " + p.ConvolutionKernel
	}
	v.EmphSub = "LAA-950"
	if isFinite(p.LungNoiseHU) && p.LungNoiseHU > 0 {
		v.EmphSub = "LAA-950; lung noise " + num(p.LungNoiseHU, 0) + " HU"
		if isFinite(p.EmphysemaRawPct) && isFinite(p.EmphysemaPct) && p.EmphysemaRawPct != p.EmphysemaPct {
			v.EmphSub += ", read smoothed to " + num(risk.NoiseRefHU, 0) + " HU (" + num(p.EmphysemaRawPct, 1) + " % as read)"
		}
	}
	if p.Scorer == "cnn" {
		v.MalBasis = "CNN probability (Brock's where the CNN did not score)"
	} else {
		v.MalBasis = "Brock probability (the CNN's where Brock was not computed)"
	}
	v.SortBasis = "malignancy × detection score"
	v.LRBasis = "the most suspicious finding's"
	if p.ReportThreshold > 0 {
		at := strconv.FormatFloat(p.ReportThreshold, 'f', -1, 64)
		v.ReportAt = at
		v.Reported = fmt.Sprintf("%d reported (detection score ≥ %s)", p.Reported, at)
		v.LRBasis = "the most suspicious reported finding's (detection score ≥ " + at + ")"
	}
	for _, kv := range p.Clinical {
		v.Defaulted = v.Defaulted || kv.Defaulted
	}
	if len(p.Overview) > 0 {
		v.Overview = newImageView("Overview", p.Overview)
	}
	if !p.Generated.IsZero() {
		v.Generated = p.Generated.UTC().Format(time.RFC3339)
	}
	fs := slices.Clone(p.Findings)
	Sort(fs, p.Scorer)
	for i, f := range fs {
		fv := findingView{N: i + 1, Anchor: fmt.Sprintf("finding-%d", i+1), Label: f.Label, Type: orDash(f.Type),
			LungRADS: orDash(f.LungRADS), LRClass: lrClass(f.LungRADS),
			Long: num(f.LongAxisMM, 1), Short: num(f.ShortAxisMM, 1), Mean: num(f.MeanDiameterMM, 1),
			Volume: num(f.VolumeMM3, 0), Solid: num(f.SolidDiameterMM, 1), Spiculation: num(f.Spiculation, 2),
			Lobulation: num(f.Lobulation, 2), Pleura: num(f.PleuraDistanceMM, 1),
			Brock: pct(f.Brock), CNN: pct(f.CNN), Detect: num(f.DetectScore, 3), Malignancy: pct(Malignancy(f, p.Scorer)),
			Rank: dash, Centre: fmt.Sprintf("%s, %s, %s", num(f.CentreLPS[0], 1), num(f.CentreLPS[1], 1), num(f.CentreLPS[2], 1))}
		if f.Rank > 0 {
			fv.Rank = fmt.Sprint(f.Rank)
		}
		fv.Unreported = p.ReportThreshold > 0 && f.DetectScore < p.ReportThreshold
		if fv.Label == "" {
			fv.Label = "#" + fv.Rank
		}
		fv.Axes = fv.Long + " × " + fv.Short
		fv.Zone = "lower/middle"
		if f.UpperZone {
			fv.Zone = "upper"
		}
		for j, im := range f.Images {
			t := im.Title
			if t == "" {
				t = fmt.Sprintf("image %d", j+1)
			}
			fv.Images = append(fv.Images, newImageView(t, im.PNG))
		}
		v.Findings = append(v.Findings, fv)
	}
	return v
}

type indexRow struct {
	N                      int
	S                      Summary
	Href                   string
	Prob, ProbV            string
	Scorer                 string
	LungRADS, LRClass, LRV string
	Failed                 bool
	Status                 string
}

type indexView struct {
	CSS                   template.CSS
	CSP                   string
	Script                template.JS
	Rows                  []indexRow
	Total, Failed, Scored int
}

func newIndexView(ss []Summary) indexView {
	v := indexView{CSS: template.CSS(styleCSS), CSP: cspBase + "; script-src '" + sortJSHash + "'", Script: template.JS(sortJS), Total: len(ss)}
	ss = slices.Clone(ss)
	slices.SortStableFunc(ss, func(a, b Summary) int {
		af, bf := a.Error != "", b.Error != ""
		switch {
		case af && !bf:
			return 1
		case bf && !af:
			return -1
		}
		return DescNaNLast(prob(a.CancerProbability), prob(b.CancerProbability))
	})
	for i, s := range ss {
		r := indexRow{N: i + 1, S: s, Href: relHref(s.Href), Prob: pct(s.CancerProbability), Scorer: scorerName(s.Scorer),
			LungRADS: orDash(s.LungRADS), LRClass: lrClass(s.LungRADS), Failed: s.Error != "", Status: "ok"}
		if p := prob(s.CancerProbability); isFinite(p) && !r.Failed {
			r.ProbV = fmt.Sprintf("%.6f", p)
			v.Scored++
		}
		if k := risk.Category(s.LungRADS).Rank(); k > 0 {
			r.LRV = fmt.Sprint(k)
		}
		if r.Failed {
			r.Prob, r.ProbV, r.Scorer, r.LungRADS, r.LRClass, r.LRV = dash, "", dash, dash, lrClass(""), ""
			r.Status = "failed: " + s.Error
			v.Failed++
		} else if s.Warnings > 0 {
			r.Status = fmt.Sprintf("ok, %d warning(s)", s.Warnings)
		}
		v.Rows = append(v.Rows, r)
	}
	return v
}

// prob is p when it is a probability, NaN otherwise.
func prob(p float64) float64 {
	if p >= 0 && p <= 1 {
		return p
	}
	return math.NaN()
}

// relHref turns a relative file path into a link that stays relative
// whatever the names hold: segments percent-encoded, "./" in front (so a
// first segment like "javascript:x" cannot read as a scheme).
func relHref(p string) string {
	if p == "" {
		return ""
	}
	segs := strings.Split(filepath.ToSlash(p), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	h := strings.Join(segs, "/")
	if !strings.HasPrefix(h, "/") && !strings.HasPrefix(h, "./") && !strings.HasPrefix(h, "../") {
		h = "./" + h
	}
	return h
}

// pct shows a probability in [0, 1] as a percentage.
func pct(p float64) string {
	switch {
	case !isFinite(p):
		return dash
	case p < 0 || p > 1:
		return fmt.Sprintf("invalid (%g)", p)
	case p > 0 && p < 0.001:
		return "< 0.1"
	}
	return fmt.Sprintf("%.1f", 100*p)
}

// num shows x with prec decimals, or a dash when it is not computed.
func num(x float64, prec int) string {
	if !isFinite(x) {
		return dash
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return dash
	}
	return s
}

func scorerName(s string) string {
	switch s {
	case "brock":
		return "Brock (PanCan) model"
	case "cnn":
		return "3-D CNN"
	case "fused":
		return "Brock and CNN, fused"
	case "":
		return "unspecified scorer"
	}
	return s
}

// lrClass is the CSS class of a Lung-RADS badge (a fixed set, never user
// text).
func lrClass(c string) string {
	switch risk.Category(c).Rank() {
	case 1, 2:
		return "lr lr-low"
	case 3:
		return "lr lr-3"
	case 4:
		return "lr lr-4a"
	case 5, 6:
		return "lr lr-high"
	}
	return "lr lr-none"
}
