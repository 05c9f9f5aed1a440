package bench

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ProxyLatency summarises one phase's latencies in milliseconds.
type ProxyLatency struct {
	Count  uint64  `json:"count"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func proxyLatency(h *Hist) ProxyLatency {
	s := h.Snapshot()
	return ProxyLatency{Count: s.Total, P50MS: ms(s.Quantile(0.5)), P99MS: ms(s.Quantile(0.99)),
		P999MS: ms(s.Quantile(0.999)), MaxMS: ms(s.Max())}
}

// ProxyPhase is one phase against one target.
type ProxyPhase struct {
	Target string `json:"target"`
	// Round is the closed-loop round (1..rounds); 0 = an open-loop latency phase.
	Round int `json:"round"`
	// TargetRPS is the open loop's rate (0 = closed loop).
	TargetRPS float64 `json:"target_rps,omitempty"`
	Seconds   float64 `json:"seconds"`
	// Requests answered 200; Errors are every other answer and failed requests.
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	RPS        float64 `json:"rps"`
	// Behind counts open-loop sends later than their slot by more than one interval.
	Behind  int64        `json:"behind,omitempty"`
	Latency ProxyLatency `json:"latency"`
	// ServerCores is the target process's CPU (with its children: nginx's workers); for
	// direct, the upstream's. RPSPerCore = RPS / ServerCores. 0 = not measured.
	ServerCores float64 `json:"server_cores,omitempty"`
	RPSPerCore  float64 `json:"rps_per_core,omitempty"`
	// UpstreamCores is the upstream's CPU behind a proxy.
	UpstreamCores  float64 `json:"upstream_cores,omitempty"`
	GeneratorCores float64 `json:"generator_cores"`
}

// ProxyReport is the outcome of a `zhibo bench proxy` run; its JSON form is the -json file.
type ProxyReport struct {
	Config     ProxyConfig `json:"config"`
	Started    time.Time   `json:"started"`
	GOMAXPROCS int         `json:"gomaxprocs"`
	NumCPU     int         `json:"num_cpu"`
	// NginxVersion is the nginx measured; NginxAbsent says why none was.
	NginxVersion string `json:"nginx_version,omitempty"`
	NginxAbsent  string `json:"nginx_absent,omitempty"`
	// GatewayWithoutToken is the gateway's status for the route without a token (401).
	GatewayWithoutToken int `json:"gateway_without_token"`

	Phases  []ProxyPhase `json:"phases"`            // closed loop, in the order run
	Latency []ProxyPhase `json:"latency,omitempty"` // open loop
	// LatencyBase is the target whose best req/s the latency phases' rate is a share of.
	LatencyBase string `json:"latency_base,omitempty"`

	// Best is each target's closed-loop phase with the most requests/s.
	Best map[string]ProxyPhase `json:"best"`
	// GatewayVsNginx is the gateway's best req/s over nginx's (goal ≥ 1; 0 without nginx).
	GatewayVsNginx float64 `json:"gateway_vs_nginx,omitempty"`
	// GatewayAddedP99MS is the gateway's p99 less the direct p99 in the latency phases (goal
	// ≤ 1 ms); NginxAddedP99MS the same for nginx.
	GatewayAddedP99MS float64 `json:"gateway_added_p99_ms"`
	NginxAddedP99MS   float64 `json:"nginx_added_p99_ms,omitempty"`
	// GatewayVsFull is the gateway's best req/s over its own without the event loops (-full);
	// FullAddedP99MS is the p99 that gateway adds over direct.
	GatewayVsFull  float64 `json:"gateway_vs_full,omitempty"`
	FullAddedP99MS float64 `json:"full_added_p99_ms,omitempty"`
	// Reload is the gateway's closed-loop phase during which its route table was rewritten
	// every ReloadEvery; Reloads how many of those the gateway applied (goal: all, with no
	// failed request).
	Reload  *ProxyPhase `json:"reload,omitempty"`
	Reloads float64     `json:"reloads_applied,omitempty"`
	// Errors over every phase: any is a failed run.
	Errors int64 `json:"errors"`
}

// proxyTargets are the targets in report order.
var proxyTargets = []string{TargetDirect, TargetNginx, TargetGateway, TargetGatewayFull}

// summarize fills the figures computed from the phases.
func (rep *ProxyReport) summarize() {
	rep.Best = map[string]ProxyPhase{}
	rep.Errors = 0
	for _, ph := range rep.Phases {
		rep.Errors += ph.Errors
		if b, ok := rep.Best[ph.Target]; !ok || ph.RPS > b.RPS {
			rep.Best[ph.Target] = ph
		}
	}
	if n := rep.Best[TargetNginx].RPS; n > 0 {
		rep.GatewayVsNginx = rep.Best[TargetGateway].RPS / n
	}
	if f := rep.Best[TargetGatewayFull].RPS; f > 0 {
		rep.GatewayVsFull = rep.Best[TargetGateway].RPS / f
	}
	if rep.Reload != nil {
		rep.Errors += rep.Reload.Errors
	}
	lat := map[string]ProxyLatency{}
	for _, ph := range rep.Latency {
		rep.Errors += ph.Errors
		lat[ph.Target] = ph.Latency
	}
	if d, ok := lat[TargetDirect]; ok {
		if g, ok := lat[TargetGateway]; ok {
			rep.GatewayAddedP99MS = g.P99MS - d.P99MS
		}
		if n, ok := lat[TargetNginx]; ok {
			rep.NginxAddedP99MS = n.P99MS - d.P99MS
		}
		if f, ok := lat[TargetGatewayFull]; ok {
			rep.FullAddedP99MS = f.P99MS - d.P99MS
		}
	}
}

// WriteTable prints the report as text tables.
func (rep *ProxyReport) WriteTable(w io.Writer) error {
	c := rep.Config
	nginx := "nginx " + rep.NginxVersion + " (master + worker_processes auto, upstream keepalive 64)"
	if rep.NginxVersion == "" {
		nginx = "nginx absent: " + rep.NginxAbsent
	}
	fmt.Fprintf(w, "request   GET %s with a bearer token, %d keep-alive connections, %d round(s) of %s per target\n",
		proxyPath, c.Conns, c.Rounds, c.Duration)
	fmt.Fprintf(w, "servers   direct = the tiny Go upstream; %s; gateway = zhibo %s (auth user + per-user limit), %d without a token\n",
		nginx, proxyComponents, rep.GatewayWithoutToken)
	fmt.Fprintf(w, "machine   %d CPUs, generator GOMAXPROCS %d, everything on the same cores\n\n", rep.NumCPU, rep.GOMAXPROCS)

	fmt.Fprintln(w, "closed loop (each connection sends its next request when the answer is in):")
	if err := writeProxyPhases(w, rep.Phases, false); err != nil {
		return err
	}
	var best []string
	for _, t := range proxyTargets {
		if b, ok := rep.Best[t]; ok {
			best = append(best, fmt.Sprintf("%s %s/s", t, human(b.RPS)))
		}
	}
	fmt.Fprintf(w, "best      %s", strings.Join(best, ", "))
	if rep.GatewayVsNginx > 0 {
		fmt.Fprintf(w, ": gateway = %.2f× nginx (goal ≥ 1.0×)", rep.GatewayVsNginx)
	}
	if rep.GatewayVsFull > 0 {
		fmt.Fprintf(w, "; the event loops = %.2f× the lane alone", rep.GatewayVsFull)
	}
	fmt.Fprintln(w)
	if ph := rep.Reload; ph != nil {
		fmt.Fprintf(w, "\nreload    the gateway's route table rewritten every %s under closed-loop load: %d reloads applied, %s req/s, p99 %.3f ms, %d failed (goal 0)\n",
			c.ReloadEvery, int(rep.Reloads), human(ph.RPS), ph.Latency.P99MS, ph.Errors)
	}
	if len(rep.Latency) > 0 {
		fmt.Fprintf(w, "\nopen loop at %.0f%% of %s's best (%s/s), latency from each request's send:\n",
			100*c.LatencyLoad, rep.LatencyBase, human(rep.Latency[0].TargetRPS))
		if err := writeProxyPhases(w, rep.Latency, true); err != nil {
			return err
		}
		for _, ph := range rep.Latency {
			if ph.RPS < 0.95*ph.TargetRPS {
				fmt.Fprintf(w, "note      %s did not keep up with the rate: its latencies include the queue that built up\n", ph.Target)
			}
		}
		fmt.Fprintf(w, "added p99 gateway %+.3f ms over direct (goal ≤ 1 ms)", rep.GatewayAddedP99MS)
		if rep.NginxVersion != "" {
			fmt.Fprintf(w, "; nginx %+.3f ms", rep.NginxAddedP99MS)
		}
		if _, ok := rep.Best[TargetGatewayFull]; ok {
			fmt.Fprintf(w, "; gateway-lane %+.3f ms", rep.FullAddedP99MS)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "errors    %d\n", rep.Errors)
	all := append(append([]ProxyPhase{}, rep.Phases...), rep.Latency...)
	if rep.Reload != nil {
		all = append(all, *rep.Reload)
	}
	for _, ph := range all {
		if ph.FirstError != "" {
			fmt.Fprintf(w, "first error (%s): %s\n", ph.Target, ph.FirstError)
			break
		}
	}
	return nil
}

func writeProxyPhases(w io.Writer, phases []ProxyPhase, open bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if open {
		fmt.Fprintln(tw, "target\trate/s\treq/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tcores\tupstream cores\tgenerator cores\tbehind\terrors\t")
	} else {
		fmt.Fprintln(tw, "target\tround\treq/s\tp50 ms\tp99 ms\tp99.9 ms\tcores\treq/s per core\tupstream cores\tgenerator cores\terrors\t")
	}
	for _, ph := range phases {
		l := ph.Latency
		cores := func(v float64) string {
			if v == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", v)
		}
		if open {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%.2f\t%d\t%d\t\n", ph.Target, human(ph.TargetRPS), human(ph.RPS),
				l.P50MS, l.P99MS, l.P999MS, l.MaxMS, cores(ph.ServerCores), cores(ph.UpstreamCores), ph.GeneratorCores, ph.Behind, ph.Errors)
		} else {
			perCore := "-"
			if ph.RPSPerCore > 0 {
				perCore = human(ph.RPSPerCore)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.3f\t%.3f\t%.3f\t%s\t%s\t%s\t%.2f\t%d\t\n", ph.Target, ph.Round, human(ph.RPS),
				l.P50MS, l.P99MS, l.P999MS, cores(ph.ServerCores), perCore, cores(ph.UpstreamCores), ph.GeneratorCores, ph.Errors)
		}
	}
	return tw.Flush()
}

// Write prints the table to stdout and writes the JSON and HTML files the config names.
func (rep *ProxyReport) Write(stdout io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if err := writeJSONFile(rep.Config.JSON, rep); err != nil {
		return err
	}
	return writeHTMLFile(rep.Config.HTML, rep.WriteHTML)
}

// WriteHTML writes a self-contained page: the tables and two bar charts (best req/s, and
// p50/p99 under the open loop, per target).
func (rep *ProxyReport) WriteHTML(w io.Writer) error {
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		return err
	}
	var names []string
	var rps, p50, p99 []float64
	if rep.Reload != nil {
		rep.Errors += rep.Reload.Errors
	}
	lat := map[string]ProxyLatency{}
	for _, ph := range rep.Latency {
		lat[ph.Target] = ph.Latency
	}
	for _, t := range proxyTargets {
		if b, ok := rep.Best[t]; ok {
			names = append(names, t)
			rps = append(rps, b.RPS)
			p50 = append(p50, lat[t].P50MS)
			p99 = append(p99, lat[t].P99MS)
		}
	}
	data := struct {
		Title      string
		Table      string
		Throughput template.HTML
		Latency    template.HTML
	}{
		Title:      fmt.Sprintf("zhibo bench proxy — %d connections, %s per phase", rep.Config.Conns, rep.Config.Duration),
		Table:      table.String(),
		Throughput: svgBars("best requests/s, closed loop", names, []series{{"req/s", "#1f77b4", rps}}),
		Latency:    svgBars("latency under the open loop, ms", names, []series{{"p50", "#2ca02c", p50}, {"p99", "#d62728", p99}}),
	}
	return pageTmpl.Execute(w, data)
}

// svgBars draws groups of bars, one group per name, one bar per series.
func svgBars(title string, names []string, bars []series) template.HTML {
	const w, h, ml, mt, mb = 600.0, 260.0, 70.0, 30.0, 40.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`, w, h, w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">%s</text>`, ml, template.HTMLEscapeString(title))
	top := 0.0
	for _, s := range bars {
		for _, v := range s.Y {
			top = max(top, v)
		}
	}
	top = niceCeil(top)
	py := func(v float64) float64 { return h - mb - v/top*(h-mt-mb) }
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, ml, w-10, py(v), py(v))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" font-size="11" text-anchor="end">%s</text>`, ml-6, py(v)+4, human(v))
	}
	group := (w - ml - 10) / float64(max(1, len(names)))
	bw := group * 0.7 / float64(max(1, len(bars)))
	for i, n := range names {
		x0 := ml + float64(i)*group + group*0.15
		for j, s := range bars {
			x := x0 + float64(j)*bw
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s %.3g</title></rect>`,
				x, py(s.Y[i]), bw-2, h-mb-py(s.Y[i]), s.Color, n, s.Name, s.Y[i])
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="12" text-anchor="middle">%s</text>`, x0+group*0.35, h-mb+16, n)
	}
	for j, s := range bars {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="12" fill="%s">%s</text>`, ml+float64(j)*80, h-6, s.Color, s.Name)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
