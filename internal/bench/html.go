package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained page: the summary table and two inline SVG charts
// (throughput, latency) over the run's seconds. Nothing is fetched when it is opened.
func (rep *Report) WriteHTML(w io.Writer) error {
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		return err
	}
	t := make([]float64, len(rep.Series))
	sent := make([]float64, len(rep.Series))
	deliv := make([]float64, len(rep.Series))
	p50 := make([]float64, len(rep.Series))
	p99 := make([]float64, len(rep.Series))
	for i, p := range rep.Series {
		t[i], sent[i], deliv[i], p50[i], p99[i] = p.T, p.SentPerSec, p.Delivered, p.P50MS, p.P99MS
	}
	data := struct {
		Title      string
		Table      string
		Throughput template.HTML
		Latency    template.HTML
	}{
		Title: fmt.Sprintf("zhibo bench fanout — %d connections, %d rooms, %.0f comments/s",
			rep.Config.Conns, rep.Config.Rooms, rep.Config.Rate),
		Table:      table.String(),
		Throughput: svgChart("messages per second", t, []series{{"delivered/s", "#1f77b4", deliv}, {"sent comments/s (right axis)", "#ff7f0e", nil}}, sent),
		Latency:    svgChart("latency, ms (send → receive)", t, []series{{"p99", "#d62728", p99}, {"p50", "#2ca02c", p50}}, nil),
	}
	return pageTmpl.Execute(w, data)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em;overflow:auto}
svg{display:block;margin:1em 0;background:#fff;border:1px solid #ddd}</style></head>
<body><h1>{{.Title}}</h1><pre>{{.Table}}</pre>{{.Throughput}}{{.Latency}}</body></html>
`))

// series is one line of a chart; a nil Y is drawn from the chart's right-axis values.
type series struct {
	Name  string
	Color string
	Y     []float64
}

// svgChart draws lines over x on one left axis, and right (when not nil) on a right axis.
func svgChart(title string, x []float64, lines []series, right []float64) template.HTML {
	const w, h, ml, mr, mt, mb = 900.0, 300.0, 70.0, 70.0, 30.0, 40.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`, w, h, w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">%s</text>`, ml, template.HTMLEscapeString(title))
	xmax := 1.0
	if len(x) > 0 {
		xmax = math.Max(1, x[len(x)-1])
	}
	ymax := 0.0
	for _, l := range lines {
		for _, v := range l.Y {
			ymax = math.Max(ymax, v)
		}
	}
	ymax = niceCeil(ymax)
	rmax := 0.0
	for _, v := range right {
		rmax = math.Max(rmax, v)
	}
	rmax = niceCeil(rmax)
	px := func(v float64) float64 { return ml + v/xmax*(w-ml-mr) }
	py := func(v, top float64) float64 { return h - mb - v/top*(h-mt-mb) }
	// Axes, grid and labels.
	for i := 0; i <= 4; i++ {
		y := py(ymax*float64(i)/4, ymax)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, ml, w-mr, y, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%s</text>`, ml-6, y+4, human(ymax*float64(i)/4))
		if right != nil {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#ff7f0e">%s</text>`, w-mr+6, y+4, human(rmax*float64(i)/4))
		}
	}
	for i := 0; i <= 5; i++ {
		v := xmax * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%.0fs</text>`, px(v), h-mb+16, v)
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, ml, mt, w-ml-mr, h-mt-mb)
	for i, l := range lines {
		ys, top := l.Y, ymax
		if ys == nil {
			ys, top = right, rmax
		}
		var pts strings.Builder
		for j, v := range ys {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(x[j]), py(v, top))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, l.Color, pts.String())
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" fill="%s">%s</text>`, ml+10+float64(i)*190, h-6, l.Color, template.HTMLEscapeString(l.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 × a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
