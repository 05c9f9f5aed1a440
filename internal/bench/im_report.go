package bench

import (
	"fmt"
	"html/template"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// IMReport is the outcome of a `zhibo bench im` run; its JSON form is the -json file.
type IMReport struct {
	Config       IMConfig  `json:"config"`
	Started      time.Time `json:"started"`
	SetupSeconds float64   `json:"setup_seconds"` // registering the users and opening their channels
	SendSeconds  float64   `json:"send_seconds"`  // from the first due time until the last answer
	DrainSeconds float64   `json:"drain_seconds"` // until every acknowledged message arrived, or -drain

	Users   int `json:"users"`
	Workers int `json:"workers"` // HTTP workers used: min(senders, pairs)

	Conns struct {
		Wanted      int    `json:"wanted"`
		Established int64  `json:"established"`
		Dropped     int64  `json:"dropped"` // closed by the other side before the end of the run
		WebSocket   int    `json:"websocket"`
		TCP         int    `json:"tcp"`
		DropError   string `json:"drop_error,omitempty"`
	} `json:"conns"`

	// Offered is the messages the schedule made due (rate × duration); Sent the sends
	// started (fewer only when a worker was still behind half a minute after the schedule
	// ended); Behind the sends that started more than 10 ms after their due time.
	Offered       int64   `json:"offered"`
	OfferedPerSec float64 `json:"offered_per_sec"`
	Sent          int64   `json:"sent"`
	Behind        int64   `json:"behind"`
	Acked         int64   `json:"acked"`
	AckedPerSec   float64 `json:"acked_per_sec"`
	// Errors are the sends not acknowledged, by HTTP status ("transport": no answer).
	Errors     map[string]int64 `json:"errors"`
	ErrorCount int64            `json:"error_count"`
	FirstError string           `json:"first_error,omitempty"`
	// Replays is acknowledgements marked replay (the bench never repeats a client_id).
	Replays int64 `json:"replays"`

	// AckLatency is due time → acknowledgement; E2ELatency is due time → the receiver's
	// IM_MSG (the first copy).
	AckLatency ProxyLatency `json:"ack_latency"`
	E2ELatency ProxyLatency `json:"e2e_latency"`

	Check IMCheck `json:"check"`
	// Foreign is IM_MSG of other runs or senders; Mismatched is IM_MSG carrying this run's
	// stamp with the wrong sender, receiver or client_id, or pushed to a third user.
	Foreign    int64 `json:"foreign"`
	Mismatched int64 `json:"mismatched"`

	// CPU is the cores each process kept busy while sending (1 = one core).
	CPU struct {
		Server    float64 `json:"server,omitempty"`
		Generator float64 `json:"generator"`
	} `json:"cpu_cores"`
	// Notices is the notice load (-notice_batch, -notice_high_every); nil without.
	Notices        *IMNoticeReport `json:"notices,omitempty"`
	GeneratorRSSKB int64           `json:"generator_rss_kb"`
	Notes          []string        `json:"notes,omitempty"`
	Series         []IMPoint       `json:"series"`
}

// finish fills the report from the run's counters once every reader and worker has stopped.
func (r *imRun) finish(rep *IMReport) {
	rep.Users = len(r.users)
	rep.Workers = min(r.cfg.Senders, r.pairs)
	rep.Conns.Wanted = len(r.users)
	rep.Conns.Established = r.up.Load()
	rep.Conns.Dropped = r.dropped.Load()
	for i := range r.users {
		u := &r.users[i]
		if u.conn == nil {
			continue
		}
		if r.useWS(i) {
			rep.Conns.WebSocket++
		} else {
			rep.Conns.TCP++
		}
		if u.err != nil && rep.Conns.DropError == "" {
			rep.Conns.DropError = u.err.Error()
		}
	}
	rep.OfferedPerSec = float64(rep.Offered) / r.cfg.Duration.Seconds()
	rep.Sent = r.sent.Load()
	rep.Behind = r.behind.Load()
	rep.Acked = r.acked.Load()
	if rep.SendSeconds > 0 {
		rep.AckedPerSec = float64(rep.Acked) / rep.SendSeconds
	}
	r.errMu.Lock()
	rep.Errors = make(map[string]int64, len(r.errs))
	for k, n := range r.errs {
		rep.Errors[k] = n
		rep.ErrorCount += n
	}
	rep.FirstError = r.firstErr
	r.errMu.Unlock()
	rep.Replays = r.replays.Load()
	rep.AckLatency = proxyLatency(r.ack)
	rep.E2ELatency = proxyLatency(r.e2e)
	rep.Check = r.check.result()
	rep.Foreign = r.foreign.Load()
	rep.Mismatched = r.mismatched.Load()
	rep.GeneratorRSSKB, _ = readRSS(os.Getpid())
}

// WriteTable prints the report as a text table.
func (rep *IMReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := rep.Config
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	groups := ""
	if n := c.groups(); n > 0 {
		groups = fmt.Sprintf(", %d of them in %d groups of %d", n*c.GroupSize, n, c.GroupSize)
	}
	row("target", "%s  (%d users%s, each writing to its partner or group, %d HTTP workers, protover %d)",
		c.URL, rep.Users, groups, rep.Workers, c.ProtoVer)
	row("channels", "%d of %d open (%d WebSocket, %d TCP), %d dropped during the run",
		rep.Conns.Established, rep.Conns.Wanted, rep.Conns.WebSocket, rep.Conns.TCP, rep.Conns.Dropped)
	row("offered", "%d messages in %s = %.1f/s (open loop); %d sent, %d started >10ms late",
		rep.Offered, c.Duration, rep.OfferedPerSec, rep.Sent, rep.Behind)
	row("acknowledged", "%d in %.1fs = %.1f/s, %d errors%s", rep.Acked, rep.SendSeconds, rep.AckedPerSec, rep.ErrorCount, errorsByStatus(rep.Errors))
	l := rep.AckLatency
	row("send → ack", "p50 %.1fms  p99 %.1fms  p99.9 %.1fms  max %.1fms  (%d messages, from the due time)", l.P50MS, l.P99MS, l.P999MS, l.MaxMS, l.Count)
	l = rep.E2ELatency
	row("send → receive", "p50 %.1fms  p99 %.1fms  p99.9 %.1fms  max %.1fms  (%d deliveries, to each receiver's IM_MSG or IM_GROUP_MSG)", l.P50MS, l.P99MS, l.P999MS, l.MaxMS, l.Count)
	k := rep.Check
	verdict := "OK: every acknowledged message received exactly once"
	if !k.OK() {
		verdict = "FAILED"
	}
	row("receivers", "%d of %d deliveries of %d acknowledged messages received: %d lost, %d duplicated, %d reordered, %d received unacknowledged — %s",
		k.Received-k.Unconfirmed, k.Deliveries, k.Acked, k.Lost, k.Duplicated, k.Reordered, k.Unconfirmed, verdict)
	row("sender echoes", "%d of %d on the sender's own channel: %d missing, %d duplicated",
		k.Echoes-k.EchoUnconfirmed, k.Acked, k.EchoLost, k.EchoDuplicated)
	if rep.Notices != nil {
		rep.Notices.writeRows(row)
	}
	row("drain", "%.2fs after the last send", rep.DrainSeconds)
	if rep.Sent > 0 && float64(rep.Behind) > 0.01*float64(rep.Sent) {
		row("note", "%.0f%% of the sends started late: the workers waited for earlier answers, so the latencies include that wait; more -senders show whether the server or the workers were the limit",
			100*float64(rep.Behind)/float64(rep.Sent))
	}
	if rep.Foreign > 0 || rep.Mismatched > 0 || rep.Replays > 0 {
		row("other", "%d IM_MSG of other senders, %d with a wrong sender/receiver/client_id, %d replayed acknowledgements",
			rep.Foreign, rep.Mismatched, rep.Replays)
	}
	if c.PID > 0 {
		row("server CPU", "%.2f cores while sending (pid %d)", rep.CPU.Server, c.PID)
	}
	row("generator", "%.2f cores while sending, RSS %.1f MiB, GOMAXPROCS %d", rep.CPU.Generator, kib(rep.GeneratorRSSKB), runtime.GOMAXPROCS(0))
	if rep.FirstError != "" {
		row("first error", "%s", rep.FirstError)
	}
	if rep.Conns.DropError != "" {
		row("first drop", "%s", rep.Conns.DropError)
	}
	for _, n := range rep.Notes {
		row("note", "%s", n)
	}
	return tw.Flush()
}

// errorsByStatus is " (429: 3, transport: 1)", or "" without errors.
func errorsByStatus(errs map[string]int64) string {
	if len(errs) == 0 {
		return ""
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, errs[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Write prints the table to stdout and writes the JSON and HTML files the config names.
func (rep *IMReport) Write(stdout io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if err := writeJSONFile(rep.Config.JSON, rep); err != nil {
		return err
	}
	return writeHTMLFile(rep.Config.HTML, rep.WriteHTML)
}

// WriteHTML writes a self-contained page: the table and two charts over the run's seconds
// (acknowledged and received messages/s; p50/p99 of both latencies).
func (rep *IMReport) WriteHTML(w io.Writer) error {
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		return err
	}
	n := len(rep.Series)
	t, acked, recv := make([]float64, n), make([]float64, n), make([]float64, n)
	ack99, e2e50, e2e99 := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, p := range rep.Series {
		t[i], acked[i], recv[i] = p.T, p.AckedPerSec, p.RecvPerSec
		ack99[i], e2e50[i], e2e99[i] = p.AckP99MS, p.E2EP50MS, p.E2EP99MS
	}
	data := struct {
		Title      string
		Table      string
		Throughput template.HTML
		Latency    template.HTML
	}{
		Title:      fmt.Sprintf("zhibo bench im — %d users, %.0f messages/s, %s", rep.Config.Users, rep.Config.Rate, rep.Config.Duration),
		Table:      table.String(),
		Throughput: svgChart("messages per second", t, []series{{"acknowledged/s", "#ff7f0e", acked}, {"received/s", "#1f77b4", recv}}, nil),
		Latency: svgChart("latency, ms (from the due time)", t, []series{{"send → ack p99", "#9467bd", ack99},
			{"send → receive p99", "#d62728", e2e99}, {"send → receive p50", "#2ca02c", e2e50}}, nil),
	}
	return pageTmpl.Execute(w, data)
}
