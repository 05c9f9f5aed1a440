package bench

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"
)

// GiftStormReport is the outcome of a `hot gifts` run; its JSON form is the -json file.
type GiftStormReport struct {
	Config        GiftStormConfig `json:"config"`
	Started       time.Time       `json:"started"`
	SetupSeconds  float64         `json:"setup_seconds"`
	SendSeconds   float64         `json:"send_seconds"`
	SettleSeconds float64         `json:"settle_seconds"` // from the last order until the score included every one
	RoomID        int64           `json:"room_id"`

	Orders       int64   `json:"orders"` // acknowledged
	OrdersPerSec float64 `json:"orders_per_sec"`
	AckedTotal   int64   `json:"acked_total"` // Σ total of the acknowledged orders
	Errors       int64   `json:"errors"`      // refused or of unknown outcome
	Unknown      int64   `json:"unknown"`     // no answer after every retry
	Retries      int64   `json:"retries"`
	FirstError   string  `json:"first_error,omitempty"`
	Latency      Latency `json:"latency"`

	ScoreBefore int64 `json:"score_before"`
	ScoreAfter  int64 `json:"score_after"`
	// ScoreOK says ScoreAfter − ScoreBefore == AckedTotal exactly.
	ScoreOK bool `json:"score_ok"`

	// Writes is the score aggregation as the server's /metrics show it. Every flush writes
	// the anchor's score row once (this bench has one anchor), so flushes are the anchor's
	// DB writes; without aggregation there would be one per order.
	Writes struct {
		Created       float64 `json:"orders_created"`  // zhibo_gift_orders_total{result="created"} during the storm
		Flushes       float64 `json:"flushes"`         // during the storm
		FlushesPerSec float64 `json:"flushes_per_sec"` // = aggregated anchor score writes per second
		FlushesTotal  float64 `json:"flushes_total"`   // until the score settled
		FlushErrors   float64 `json:"flush_errors"`
		RowsPerFlush  float64 `json:"rows_per_flush"` // anchor + (room, sender) rows, on average
		Folded        float64 `json:"folded"`         // orders folded into scores until settled
		Skipped       float64 `json:"skipped"`        // redelivered events acknowledged without counting
		// Unaggregated is the anchor writes per second one write per order would make.
		Unaggregated float64 `json:"unaggregated_per_sec"`
	} `json:"writes"`

	CPU struct {
		Server    float64 `json:"server,omitempty"`
		Generator float64 `json:"generator"`
	} `json:"cpu_cores"`
}

// fill computes the report from the counters and three scrapes: before the storm (m0), at
// its end (m1) and once the score settled (m2).
func (r *giftRun) fill(rep *GiftStormReport, m0, m1, m2 Metrics) {
	rep.Orders = r.acked.Load()
	rep.AckedTotal = r.sum.Load()
	rep.Errors = r.errs.Load()
	rep.Unknown = r.unknown.Load()
	rep.Retries = r.retries.Load()
	if v, ok := r.firstErr.Load().(string); ok {
		rep.FirstError = v
	}
	rep.Latency = summarize(r.hist)
	t := max(rep.SendSeconds, 1e-9)
	rep.OrdersPerSec = float64(rep.Orders) / t
	rep.ScoreOK = rep.ScoreAfter-rep.ScoreBefore == rep.AckedTotal && rep.Unknown == 0
	w := &rep.Writes
	w.Created = Delta(m0, m1, "zhibo_gift_orders_total", `result="created"`)
	w.Flushes = Delta(m0, m1, "zhibo_gift_aggregate_flushes_total", `result="ok"`)
	w.FlushesPerSec = w.Flushes / t
	w.FlushesTotal = Delta(m0, m2, "zhibo_gift_aggregate_flushes_total", `result="ok"`)
	w.FlushErrors = Delta(m0, m2, "zhibo_gift_aggregate_flushes_total", `result="error"`)
	if n := Delta(m0, m2, "zhibo_gift_aggregate_rows_per_flush_count"); n > 0 {
		w.RowsPerFlush = Delta(m0, m2, "zhibo_gift_aggregate_rows_per_flush_sum") / n
	}
	w.Folded = Delta(m0, m2, "zhibo_gift_aggregate_messages_folded_total")
	w.Skipped = Delta(m0, m2, "zhibo_gift_aggregate_messages_skipped_total")
	w.Unaggregated = rep.OrdersPerSec
}

// WriteTable prints the report as a text table.
func (rep *GiftStormReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := rep.Config
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	target := "closed loop"
	if c.Rate > 0 {
		target = fmt.Sprintf("target %.0f/s", c.Rate)
	}
	row("target", "%s  (room %d, %d senders, gift %d × %d, %s)", c.URL, rep.RoomID, c.Senders, c.GiftID, c.Num, target)
	row("orders", "%d acknowledged in %.1fs = %.1f/s, %d errors (%d unknown), %d retries",
		rep.Orders, rep.SendSeconds, rep.OrdersPerSec, rep.Errors, rep.Unknown, rep.Retries)
	row("latency", "%s", rep.Latency)
	wr := rep.Writes
	ratio := 0.0
	if wr.FlushesPerSec > 0 {
		ratio = wr.Unaggregated / wr.FlushesPerSec
	}
	row("anchor score writes", "%.1f/s aggregated (%.0f flushes, %.1f rows each) vs %.1f/s unaggregated (one per order): %.0f× fewer",
		wr.FlushesPerSec, wr.Flushes, wr.RowsPerFlush, wr.Unaggregated, ratio)
	row("aggregation", "%.0f orders folded, %.0f skipped as duplicates, %.0f flushes until settled, %.0f failed",
		wr.Folded, wr.Skipped, wr.FlushesTotal, wr.FlushErrors)
	verdict := "OK: equals the acknowledged sum"
	if !rep.ScoreOK {
		verdict = "MISMATCH"
	}
	row("anchor score", "%d → %d (+%d) after %.2fs settling; acknowledged orders total %d — %s",
		rep.ScoreBefore, rep.ScoreAfter, rep.ScoreAfter-rep.ScoreBefore, rep.SettleSeconds, rep.AckedTotal, verdict)
	if c.PID > 0 {
		row("server CPU", "%.2f cores while sending", rep.CPU.Server)
	}
	row("generator", "%.2f cores while sending, GOMAXPROCS %d", rep.CPU.Generator, runtime.GOMAXPROCS(0))
	if rep.FirstError != "" {
		row("first error", "%s", rep.FirstError)
	}
	return tw.Flush()
}

// Write prints the table to stdout and writes the JSON file the config names.
func (rep *GiftStormReport) Write(stdout io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	return writeJSONFile(rep.Config.JSON, rep)
}
