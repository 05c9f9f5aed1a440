package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run; its JSON form is the -json file.
type Report struct {
	Config         Config    `json:"config"`
	Started        time.Time `json:"started"`
	SetupSeconds   float64   `json:"setup_seconds"`
	ConnectSeconds float64   `json:"connect_seconds"`
	SendSeconds    float64   `json:"send_seconds"`

	Conns struct {
		Wanted      int    `json:"wanted"`
		Established int64  `json:"established"`
		Failed      int64  `json:"failed"`
		Dropped     int64  `json:"dropped"` // closed before the end of the run
		WebSocket   int    `json:"websocket"`
		TCP         int    `json:"tcp"`
		Sources     int    `json:"sources"`
		FirstError  string `json:"first_error,omitempty"`
		DropError   string `json:"drop_error,omitempty"`
	} `json:"conns"`

	Senders         int     `json:"senders"`
	Sent            int64   `json:"sent"` // comments the platform acknowledged
	SendErrors      int64   `json:"send_errors"`
	FirstSendError  string  `json:"first_send_error,omitempty"`
	SentPerSec      float64 `json:"sent_per_sec"`
	Expected        int64   `json:"expected"`  // Σ over open connections of their room's acknowledged comments
	Delivered       int64   `json:"delivered"` // bench comments received, duplicates included
	DeliveredPerSec float64 `json:"delivered_per_sec"`
	Foreign         int64   `json:"foreign"` // comments of other runs

	// Sample is the sequence check on the first Config.Sample connections.
	Sample struct {
		Conns      int   `json:"conns"`
		Expected   int64 `json:"expected"`
		Received   int64 `json:"received"` // distinct
		Lost       int64 `json:"lost"`
		Duplicates int64 `json:"duplicates"`
		OutOfOrder int64 `json:"out_of_order"`
	} `json:"sample"`

	Latency struct {
		Count uint64  `json:"count"`
		P50MS float64 `json:"p50_ms"`
		P90MS float64 `json:"p90_ms"`
		P99MS float64 `json:"p99_ms"`
		P999  float64 `json:"p999_ms"`
		MaxMS float64 `json:"max_ms"`
	} `json:"latency"`

	RSS struct {
		PID       int     `json:"pid,omitempty"`
		BeforeKB  int64   `json:"before_kb,omitempty"`
		AfterKB   int64   `json:"after_kb,omitempty"`    // once every connection is up
		EndKB     int64   `json:"end_kb,omitempty"`      // after sending
		PerConnKB float64 `json:"per_conn_kb,omitempty"` // (connected - before) / connections
		// PerConnEndKB is (end - before) / connections: after the run, when the garbage of
		// the handshakes has been collected and the heap has grown to its working size, the
		// steadier figure of the two.
		PerConnEndKB float64 `json:"per_conn_end_kb,omitempty"`
	} `json:"server_rss"`

	// CPU is the cores each process kept busy while comments were sent (1 = one core).
	CPU struct {
		Server    float64 `json:"server,omitempty"`
		Generator float64 `json:"generator"`
	} `json:"cpu_cores"`

	// Slow is what happened to the -slow viewers (not counted in Conns, Expected or Latency).
	Slow *SlowReport `json:"slow,omitempty"`

	GeneratorRSSKB int64    `json:"generator_rss_kb"`
	Notes          []string `json:"notes,omitempty"`
	Series         []Point  `json:"series"`
}

// finish fills the report from the run's counters once every reader has exited.
func (r *run) finish(rep *Report, sendSeconds float64) {
	rep.SendSeconds = sendSeconds
	rep.Conns.Wanted = r.cfg.Conns
	rep.Conns.Established = r.up.Load()
	rep.Conns.Failed = r.dialFailed.Load()
	rep.Conns.Dropped = r.dropped.Load()
	rep.Conns.Sources = max(1, len(r.sources))
	if s, ok := r.firstDialErr.Load().(string); ok {
		rep.Conns.FirstError = s
	}
	rep.Senders = len(r.sendersList)
	rep.Sent = r.sent.Load()
	rep.SendErrors = r.sendErrors.Load()
	if s, ok := r.firstSendErr.Load().(string); ok {
		rep.FirstSendError = s
	}
	if sendSeconds > 0 {
		rep.SentPerSec = float64(rep.Sent) / sendSeconds
	}
	perRoom := make([]int64, len(r.rooms))
	perSender := make([]int64, len(r.sendersList))
	for i, s := range r.sendersList {
		perSender[i] = s.acked.Load()
		perRoom[s.room] += perSender[i]
	}
	for _, c := range r.conns {
		if c.ws {
			rep.Conns.WebSocket++
		} else {
			rep.Conns.TCP++
		}
		if c.err != nil && rep.Conns.DropError == "" {
			rep.Conns.DropError = c.err.Error()
		}
		rep.Expected += perRoom[c.room]
		rep.Delivered += c.delivered
		rep.Foreign += c.foreign
		if !c.sampled {
			continue
		}
		rep.Sample.Conns++
		for id, sq := range c.seqs {
			if r.sendersList[id].room != c.room {
				continue
			}
			rep.Sample.Expected += perSender[id]
			rep.Sample.Received += sq.distinct
			rep.Sample.Lost += max(0, perSender[id]-sq.distinct)
			rep.Sample.Duplicates += sq.dups
			rep.Sample.OutOfOrder += sq.outOfOrder
		}
	}
	// Throughput over the send phase and the drain that followed it.
	if t := sendSeconds; t > 0 {
		rep.DeliveredPerSec = float64(rep.Delivered) / t
	}
	snap := r.hist.Snapshot()
	rep.Latency.Count = snap.Total
	rep.Latency.P50MS = ms(snap.Quantile(0.5))
	rep.Latency.P90MS = ms(snap.Quantile(0.9))
	rep.Latency.P99MS = ms(snap.Quantile(0.99))
	rep.Latency.P999 = ms(snap.Quantile(0.999))
	rep.Latency.MaxMS = ms(time.Duration(snap.MaxUS) * time.Microsecond)
	if rep.RSS.AfterKB > 0 && rep.Conns.Established > 0 {
		rep.RSS.PerConnKB = float64(rep.RSS.AfterKB-rep.RSS.BeforeKB) / float64(rep.Conns.Established)
	}
	if rep.RSS.EndKB > 0 && rep.Conns.Established > 0 {
		rep.RSS.PerConnEndKB = float64(rep.RSS.EndKB-rep.RSS.BeforeKB) / float64(rep.Conns.Established)
	}
	rep.GeneratorRSSKB, _ = readRSS(os.Getpid())
}

// Lost is the loss the run found: sampled sequences missing, plus messages missing on any
// connection, plus connections dropped or never opened.
func (rep *Report) Lost() int64 {
	return rep.Sample.Lost + max(0, rep.Expected-rep.Delivered)
}

// WriteTable prints the report as a text table.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := rep.Config
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("target", "%s  (%d rooms, protover %d, %d WebSocket + %d TCP, %d source addresses)",
		c.URL, c.Rooms, c.ProtoVer, rep.Conns.WebSocket, rep.Conns.TCP, rep.Conns.Sources)
	row("connections", "%d of %d established in %.1fs, %d failed, %d dropped", rep.Conns.Established,
		rep.Conns.Wanted, rep.ConnectSeconds, rep.Conns.Failed, rep.Conns.Dropped)
	mode := "HTTP API"
	if c.Queue != "" {
		mode = "queue " + c.Queue
	}
	if c.Rate == 0 {
		row("sent", "nothing: idle run of %.1fs, a heartbeat every %s on each connection", rep.SendSeconds, c.Heartbeat)
	} else {
		row("sent", "%d comments in %.1fs = %.1f/s (target %.1f/s) by %d senders via %s, %d errors",
			rep.Sent, rep.SendSeconds, rep.SentPerSec, c.Rate, rep.Senders, mode, rep.SendErrors)
	}
	row("delivered", "%d of %d expected = %s msgs/s", rep.Delivered, rep.Expected, human(rep.DeliveredPerSec))
	row("loss (sample)", "%d lost of %d on %d connections, %d duplicates, %d out of order",
		rep.Sample.Lost, rep.Sample.Expected, rep.Sample.Conns, rep.Sample.Duplicates, rep.Sample.OutOfOrder)
	row("latency", "p50 %.1fms  p90 %.1fms  p99 %.1fms  p99.9 %.1fms  max %.1fms  (%d messages)",
		rep.Latency.P50MS, rep.Latency.P90MS, rep.Latency.P99MS, rep.Latency.P999, rep.Latency.MaxMS, rep.Latency.Count)
	if s := rep.Slow; s != nil {
		row("slow viewers", "%d of %d opened (never reading), %d disconnected by the server%s", s.Opened, s.Wanted, s.Disconnected, s.after())
	}
	if rep.RSS.PID > 0 {
		row("server RSS", "pid %d: %.1f MiB before, %.1f MiB connected, %.1f MiB at end; per connection %.1f KiB connected, %.1f KiB at end",
			rep.RSS.PID, kib(rep.RSS.BeforeKB), kib(rep.RSS.AfterKB), kib(rep.RSS.EndKB), rep.RSS.PerConnKB, rep.RSS.PerConnEndKB)
	}
	if rep.RSS.PID > 0 {
		row("server CPU", "%.2f cores while sending", rep.CPU.Server)
	}
	row("generator", "%.2f cores while sending, RSS %.1f MiB, GOMAXPROCS %d", rep.CPU.Generator, kib(rep.GeneratorRSSKB), runtime.GOMAXPROCS(0))
	if rep.Conns.FirstError != "" {
		row("first dial error", "%s", rep.Conns.FirstError)
	}
	if rep.Conns.DropError != "" {
		row("first drop", "%s", rep.Conns.DropError)
	}
	if rep.Slow != nil && rep.Slow.FirstError != "" {
		row("first slow dial error", "%s", rep.Slow.FirstError)
	}
	if rep.FirstSendError != "" {
		row("first send error", "%s", rep.FirstSendError)
	}
	for _, n := range rep.Notes {
		row("note", "%s", n)
	}
	return tw.Flush()
}

func kib(kb int64) float64 { return float64(kb) / 1024 }

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// after says when the slow viewers were disconnected, relative to the start of sending.
func (s *SlowReport) after() string {
	d := s.DisconnectedAfterS
	switch len(d) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" %.2fs after sending started", d[0])
	}
	return fmt.Sprintf(", %.2fs … %.2fs (median %.2fs) after sending started", d[0], d[len(d)-1], d[len(d)/2])
}
