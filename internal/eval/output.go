package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lungctl/lungctl/internal/atomicfile"
)

// WriteJSON writes r as indented JSON to path atomically.
func WriteJSON(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: %s: %w", path, err)
	}
	b = append(b, '\n')
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

// Summary is a short human-readable report: counts, the sensitivity at the 7
// operating points and CPM (with bootstrap bounds when present).
func (r *Result) Summary() string {
	var b strings.Builder
	name := r.Name
	if name == "" {
		name = "system"
	}
	fmt.Fprintf(&b, "%s: %d scans, %d nodules, %d detected (sensitivity %.4f) with %d marks: %d TP marks, %d duplicate hits, %d ignored (excluded findings), %d FP (%.3f FP/scan); %d marks dropped by the per-scan cap, %d on other scans\n",
		name, r.Scans, r.Nodules, r.Detected, r.Sensitivity, r.Marks, r.TruePositiveMarks, r.DuplicateHits,
		r.IgnoredMarks, r.FalsePositives, r.FPPerScan, r.MarksCapped, r.MarksOtherScans)
	b.WriteString("FP/scan     ")
	for _, x := range r.OperatingPoints {
		fmt.Fprintf(&b, " %7g", x)
	}
	b.WriteString("\nsensitivity ")
	for _, s := range r.SensitivityAt {
		fmt.Fprintf(&b, " %7.4f", s)
	}
	fmt.Fprintf(&b, "\nCPM %.4f", r.CPM)
	if bs := r.Bootstrap; bs != nil {
		fmt.Fprintf(&b, " (bootstrap %d: mean %.4f, %g%% interval %.4f–%.4f)", bs.Samples-bs.Skipped, bs.CPMMean,
			100*bs.Confidence, bs.CPMLower, bs.CPMUpper)
	}
	b.WriteString("\n")
	if op := r.Operating; op != nil {
		fmt.Fprintf(&b, "at probability ≥ %g: sensitivity %.4f at %.3f FP/scan\n", op.Threshold, op.Sensitivity, op.FPPerScan)
	}
	b.WriteString(r.extraText())
	return b.String()
}

// extraText is the summary of the sections EvaluateFiles adds on request
// ("" when there are none, so LUNA16 summaries read as before).
func (r *Result) extraText() string {
	var b strings.Builder
	if r.AnnotationRule != "" {
		b.WriteString(r.AnnotationRule + "\n")
	}
	if len(r.ByKind) > 0 || len(r.BySize) > 0 {
		b.WriteString("subgroup FROC: sensitivity over the subgroup's nodules, false positives of all scans (FP/scan as above)\n")
	}
	if len(r.ByKind) > 0 {
		b.WriteString(groupTable("kind", r.ByKind))
	}
	if len(r.BySize) > 0 {
		b.WriteString(groupTable("diameter", r.BySize))
	}
	if r.Measurement != nil {
		b.WriteString(r.Measurement.text())
	}
	for _, n := range r.Notes {
		b.WriteString(n + "\n")
	}
	return b.String()
}

var plotColors = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {23, 190, 207, 255}, {127, 127, 127, 255},
}

// PlotFROC draws the FROC curves of results into a PNG at path (atomic):
// x = average FP per scan on a log axis from 1/8 to 8, y = sensitivity 0…1,
// the 7 operating points marked, each system's CPM in the legend (and in the
// title when there is one result). Bootstrap bands, when present, are drawn
// shaded with the mean dashed.
func PlotFROC(path string, results ...*Result) error {
	wt, err := frocPlot(results)
	if err != nil {
		return fmt.Errorf("eval: plot %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err }); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

func frocPlot(results []*Result) (io.WriterTo, error) {
	if len(results) == 0 {
		return nil, errors.New("no results to plot")
	}
	p := frocAxes(results)
	xs := LogGrid()
	for i, r := range results {
		if r == nil {
			return nil, fmt.Errorf("result %d is nil", i)
		}
		col := plotColors[i%len(plotColors)]
		if err := addBootstrapBand(p, r, i, col); err != nil {
			return nil, err
		}
		if err := addCurve(p, r, i, col, xs); err != nil {
			return nil, err
		}
	}
	return p.WriterTo(7*vg.Inch, 5*vg.Inch, "png")
}

// frocAxes is the empty FROC plot: title, log FP axis with the operating
// points as ticks, grid and legend placement.
func frocAxes(results []*Result) *plot.Plot {
	p := plot.New()
	if len(results) == 1 {
		n := results[0].Name
		if n == "" {
			n = "FROC"
		}
		p.Title.Text = fmt.Sprintf("%s — CPM %.3f, sensitivity %.3f at %.2f FP/scan", n, results[0].CPM,
			results[0].Sensitivity, results[0].FPPerScan)
	} else {
		p.Title.Text = "FROC (LUNA16)"
	}
	p.X.Label.Text = "Average number of false positives per scan"
	p.Y.Label.Text = "Sensitivity"
	p.X.Scale = plot.LogScale{}
	p.X.Min, p.X.Max = OperatingPoints[0], OperatingPoints[6]
	p.Y.Min, p.Y.Max = 0, 1
	labels := []string{"1/8", "1/4", "1/2", "1", "2", "4", "8"}
	var xt plot.ConstantTicks
	for i, x := range OperatingPoints {
		xt = append(xt, plot.Tick{Value: x, Label: labels[i]})
	}
	p.X.Tick.Marker = xt
	var yt plot.ConstantTicks
	for i := 0; i <= 10; i++ {
		y := float64(i) / 10
		t := plot.Tick{Value: y}
		if i%2 == 0 {
			t.Label = fmt.Sprintf("%.1f", y)
		}
		yt = append(yt, t)
	}
	p.Y.Tick.Marker = yt
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{210}
	grid.Horizontal.Color = color.Gray{210}
	p.Add(grid)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(6)
	return p
}

// addBootstrapBand draws r's bootstrap band and mean curve, when it has them.
func addBootstrapBand(p *plot.Plot, r *Result, i int, col color.RGBA) error {
	if bs := r.Bootstrap; bs != nil && len(bs.FPPerScan) > 0 {
		band := make(plotter.XYs, 0, 2*len(bs.FPPerScan))
		for k, x := range bs.FPPerScan {
			band = append(band, plotter.XY{X: x, Y: bs.Upper[k]})
		}
		for k := len(bs.FPPerScan) - 1; k >= 0; k-- {
			band = append(band, plotter.XY{X: bs.FPPerScan[k], Y: bs.Lower[k]})
		}
		poly, err := plotter.NewPolygon(band)
		if err != nil {
			return err
		}
		poly.Color = color.NRGBA{col.R, col.G, col.B, 50}
		poly.LineStyle.Width = 0
		p.Add(poly)
		mean := make(plotter.XYs, len(bs.FPPerScan))
		for k, x := range bs.FPPerScan {
			mean[k] = plotter.XY{X: x, Y: bs.Mean[k]}
		}
		ml, err := plotter.NewLine(mean)
		if err != nil {
			return err
		}
		ml.Color = col
		ml.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(ml)
		p.Legend.Add(fmt.Sprintf("%s bootstrap mean, %g%% band (CPM %.3f–%.3f)", systemName(r, i), 100*bs.Confidence, bs.CPMLower, bs.CPMUpper), ml)
	}
	return nil
}

// addCurve draws r's FROC curve and its sensitivities at the operating points.
func addCurve(p *plot.Plot, r *Result, i int, col color.RGBA, xs []float64) error {
	pts := make(plotter.XYs, len(xs))
	for k, x := range xs {
		pts[k] = plotter.XY{X: x, Y: Interp(r.Curve, x)}
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	line.Color = col
	line.Width = vg.Points(2)
	ops := make(plotter.XYs, 7)
	for k, x := range OperatingPoints {
		ops[k] = plotter.XY{X: x, Y: r.SensitivityAt[k]}
	}
	sc, err := plotter.NewScatter(ops)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Color = col
	sc.GlyphStyle.Radius = vg.Points(3.5)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	p.Add(line, sc)
	p.Legend.Add(fmt.Sprintf("%s (CPM %.3f)", systemName(r, i), r.CPM), line, sc)
	return nil
}

func systemName(r *Result, i int) string {
	if r.Name != "" {
		return r.Name
	}
	return fmt.Sprintf("system %d", i+1)
}
