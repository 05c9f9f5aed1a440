package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// imNotices is the notice load an im run adds beside the messages: one batch send to the uid
// range 1..NoticeBatch on the normal lane, and a high-lane notice to one of the run's users
// every NoticeHighEvery, each checked to reach that user's channel exactly once.
type imNotices struct {
	cfg IMConfig
	api *apiClient
	tag string

	batchID    atomic.Int64
	batchStart time.Time
	batchDone  atomic.Int64
	batchEnd   atomic.Int64 // unix ns when the batch was seen finished; 0 before
	batchErr   atomic.Value // string

	high     *Hist // POST → the user's IM_NOTICE
	highSent atomic.Int64
	mu       sync.Mutex
	highTo   []int   // user index of high notice k
	highAt   []int64 // unix ns its POST started
	highGot  []int32 // copies received
	highErrs atomic.Int64
	wrongTo  atomic.Int64
}

func newIMNotices(cfg IMConfig, api *apiClient, tag string, shards int) *imNotices {
	return &imNotices{cfg: cfg, api: api, tag: tag, high: NewHist(shards)}
}

// run sends the batch, then a high notice every NoticeHighEvery until ctx ends, polling the
// batch's progress each half second meanwhile; it returns once the high notices sent have
// been answered.
func (n *imNotices) run(ctx context.Context, users []imUser) {
	if n.cfg.NoticeBatch > 0 {
		n.batchStart = time.Now()
		in := map[string]any{"business": "bench", "title": "bench " + n.tag + " batch", "body": "a batch send of zhibo bench im",
			"to": map[string]int64{"from": 1, "to": int64(n.cfg.NoticeBatch)}}
		var b struct {
			ID int64 `json:"id"`
		}
		if err := n.api.call(ctx, "POST", "/api/admin/notices", n.cfg.AdminToken, in, &b); err != nil {
			n.batchErr.Store(err.Error())
		} else {
			n.batchID.Store(b.ID)
		}
	}
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	var highC <-chan time.Time
	if n.cfg.NoticeHighEvery > 0 {
		t := time.NewTicker(n.cfg.NoticeHighEvery)
		defer t.Stop()
		highC = t.C
	}
	// Each high notice is sent on its own, when due (open loop): a slow answer does not hold
	// back the next one.
	var sends sync.WaitGroup
	defer sends.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			n.pollBatch(ctx)
		case <-highC:
			sends.Go(func() { n.sendHigh(context.WithoutCancel(ctx), users) })
		}
	}
}

// pollBatch reads the batch's progress.
func (n *imNotices) pollBatch(ctx context.Context) {
	id := n.batchID.Load()
	if id == 0 || n.batchEnd.Load() != 0 {
		return
	}
	var b struct {
		Done     int64 `json:"done"`
		Finished bool  `json:"finished"`
	}
	if err := n.api.call(ctx, "GET", "/api/admin/notices/"+strconv.FormatInt(id, 10), n.cfg.AdminToken, nil, &b); err != nil {
		return
	}
	n.batchDone.Store(b.Done)
	if b.Finished {
		n.batchEnd.Store(time.Now().UnixNano())
	}
}

// sendHigh sends high notice k to user k·7919 mod users (spread over the users).
func (n *imNotices) sendHigh(ctx context.Context, users []imUser) {
	n.mu.Lock()
	k := len(n.highTo)
	to := k * 7919 % len(users)
	n.highTo = append(n.highTo, to)
	n.highAt = append(n.highAt, time.Now().UnixNano())
	n.highGot = append(n.highGot, 0)
	n.mu.Unlock()
	in := map[string]any{"business": "bench", "title": "bench " + n.tag + " high " + strconv.Itoa(k),
		"body": "an urgent notice of zhibo bench im", "priority": "high", "to": map[string][]int64{"uids": {users[to].uid}}}
	n.highSent.Add(1)
	if err := n.api.call(ctx, "POST", "/api/admin/notices", n.cfg.AdminToken, in, nil); err != nil {
		n.highErrs.Add(1)
		n.mu.Lock()
		n.highTo[k] = -1 // not acknowledged: not expected
		n.mu.Unlock()
	}
}

// received checks an IM_NOTICE titled title that reached user i at now.
func (n *imNotices) received(i int, title string, now time.Time) {
	rest, ok := strings.CutPrefix(title, "bench "+n.tag+" high ")
	if !ok {
		return // the batch, or another run's
	}
	k, err := strconv.Atoi(rest)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil || k < 0 || k >= len(n.highTo) || n.highTo[k] != i {
		n.wrongTo.Add(1)
		return
	}
	n.highGot[k]++
	if n.highGot[k] == 1 {
		n.high.RecordN(i, now.Sub(time.Unix(0, n.highAt[k])), 1)
	}
}

// settled says the batch has finished and every acknowledged high notice arrived.
func (n *imNotices) settled() bool {
	if n.batchID.Load() != 0 && n.batchEnd.Load() == 0 {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, to := range n.highTo {
		if to >= 0 && n.highGot[k] == 0 {
			return false
		}
	}
	return true
}

// IMNoticeReport is the notice part of an im run's report.
type IMNoticeReport struct {
	// The batch to the uid range 1..BatchRecipients on the normal lane.
	BatchRecipients int64   `json:"batch_recipients"`
	BatchDone       int64   `json:"batch_done"`
	BatchFinished   bool    `json:"batch_finished"`
	BatchSeconds    float64 `json:"batch_seconds"` // from the POST until seen finished (or until the end of the run)
	BatchPerSec     float64 `json:"batch_recipients_per_sec"`
	BatchError      string  `json:"batch_error,omitempty"`
	// High-lane notices, one user each: sent, acknowledged, received (first copies), lost,
	// duplicated, and POST → the user's IM_NOTICE.
	HighSent       int64        `json:"high_sent"`
	HighErrors     int64        `json:"high_errors"`
	HighReceived   int64        `json:"high_received"`
	HighLost       int64        `json:"high_lost"`
	HighDuplicated int64        `json:"high_duplicated"`
	HighWrongUser  int64        `json:"high_wrong_user"`
	HighLatency    ProxyLatency `json:"high_latency"`
}

// OK says every acknowledged high notice arrived exactly once, at its user.
func (r *IMNoticeReport) OK() bool {
	return r == nil || (r.HighLost == 0 && r.HighDuplicated == 0 && r.HighWrongUser == 0 && r.BatchError == "")
}

func (n *imNotices) report() *IMNoticeReport {
	rep := &IMNoticeReport{BatchRecipients: int64(n.cfg.NoticeBatch), BatchDone: n.batchDone.Load(),
		HighSent: n.highSent.Load(), HighErrors: n.highErrs.Load(), HighWrongUser: n.wrongTo.Load(), HighLatency: proxyLatency(n.high)}
	if e, ok := n.batchErr.Load().(string); ok {
		rep.BatchError = e
	}
	if n.cfg.NoticeBatch > 0 && rep.BatchError == "" {
		end := time.Now()
		if ns := n.batchEnd.Load(); ns != 0 {
			end, rep.BatchFinished = time.Unix(0, ns), true
		}
		rep.BatchSeconds = end.Sub(n.batchStart).Seconds()
		if rep.BatchSeconds > 0 {
			rep.BatchPerSec = float64(rep.BatchDone) / rep.BatchSeconds
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, to := range n.highTo {
		switch got := n.highGot[k]; {
		case got > 0:
			rep.HighReceived++
			rep.HighDuplicated += int64(got - 1)
		case to >= 0:
			rep.HighLost++
		}
	}
	return rep
}

// writeRows prints the notice rows of the report table.
func (r *IMNoticeReport) writeRows(row func(k, format string, a ...any)) {
	if r.BatchRecipients > 0 {
		state := "finished"
		if !r.BatchFinished {
			state = "not finished"
		}
		row("notice batch", "%d of %d recipients in %.1fs = %.0f recipients/s (normal lane, %s)%s",
			r.BatchDone, r.BatchRecipients, r.BatchSeconds, r.BatchPerSec, state, errSuffix(r.BatchError))
	}
	if r.HighSent > 0 {
		l := r.HighLatency
		row("high notices", "%d sent, %d errors, %d received: %d lost, %d duplicated, %d at the wrong user; POST → IM_NOTICE p50 %.1fms  p99 %.1fms  max %.1fms",
			r.HighSent, r.HighErrors, r.HighReceived, r.HighLost, r.HighDuplicated, r.HighWrongUser, l.P50MS, l.P99MS, l.MaxMS)
	}
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return fmt.Sprintf("; error: %s", e)
}
