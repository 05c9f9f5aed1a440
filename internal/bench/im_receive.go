package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// imEvent is the op-5 body of a private message (IM_MSG) or group message (IM_GROUP_MSG) on
// a channel.
type imEvent struct {
	Cmd  string `json:"cmd"`
	Data struct {
		ID       int64  `json:"id"`
		From     int64  `json:"from"`
		To       int64  `json:"to"`
		GroupID  int64  `json:"group_id"`
		Title    string `json:"title"`
		Text     string `json:"text"`
		ClientID string `json:"client_id"`
	} `json:"data"`
}

// read consumes user i's channel until the run closes it. Each user's channel carries
// different messages, so there is nothing to share between readers (unlike fanout's frame
// cache): viewer.Conn unpacks the batches and each IM_MSG is decoded on its own.
func (r *imRun) read(i int) {
	u := &r.users[i]
	for {
		p, err := u.conn.NextUntil(r.readDeadline)
		if err != nil {
			if !r.closing.Load() {
				u.err = err
				r.dropped.Add(1)
			}
			return
		}
		if p.Op != protocol.OpMessage {
			continue
		}
		r.consume(i, p.Body, time.Now())
	}
}

// consume checks one op-5 body that arrived on user i's channel at now.
func (r *imRun) consume(i int, body []byte, now time.Time) {
	var ev imEvent
	if json.Unmarshal(body, &ev) != nil {
		return
	}
	if ev.Cmd == "IM_NOTICE" && r.notices != nil {
		r.notices.received(i, ev.Data.Title, now)
		return
	}
	if ev.Cmd != "IM_MSG" && ev.Cmd != "IM_GROUP_MSG" {
		return
	}
	st, ok := parseStamp([]byte(ev.Data.Text))
	if !ok || !r.check.valid(st.sender, st.seq) {
		r.foreign.Add(1)
		return
	}
	p := st.sender
	right := ev.Data.From == r.users[p].uid && ev.Data.ClientID == r.clientID(p, st.seq)
	if g := r.groupOf(p); g < 0 {
		right = right && ev.Cmd == "IM_MSG" && ev.Data.To == r.users[r.partner(p)].uid
	} else {
		right = right && ev.Cmd == "IM_GROUP_MSG" && ev.Data.GroupID == r.groups[g]
	}
	if !right {
		r.mismatched.Add(1) // a stamp of this run on the wrong message
		return
	}
	if i == p {
		r.check.echoed(p, st.seq)
		r.echoes.Add(1)
		return
	}
	slot := r.slot(p, i)
	if slot < 0 {
		r.mismatched.Add(1) // pushed to a user who is neither side
		return
	}
	r.check.received(p, slot, st.seq)
	r.e2e.RecordN(i, now.Sub(time.Unix(0, st.sentNS)), 1)
	r.received.Add(1)
}

// heartbeats sends op 2 on every channel each 30 s until ctx ends.
func (r *imRun) heartbeats(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i := range r.users {
			if c := r.users[i].conn; c != nil && ctx.Err() == nil {
				_ = c.Heartbeat()
			}
		}
	}
}

// closeAll ends every channel and waits for the readers.
func (r *imRun) closeAll() {
	r.closing.Store(true)
	for i := range r.users {
		if c := r.users[i].conn; c != nil {
			_ = c.Close()
		}
	}
	r.readers.Wait()
}

// IMPoint is one second of the run, for the charts.
type IMPoint struct {
	T           float64 `json:"t"` // seconds since the run started
	Phase       string  `json:"phase"`
	AckedPerSec float64 `json:"acked_per_sec"`
	RecvPerSec  float64 `json:"received_per_sec"`
	AckP50MS    float64 `json:"ack_p50_ms"`
	AckP99MS    float64 `json:"ack_p99_ms"`
	E2EP50MS    float64 `json:"e2e_p50_ms"`
	E2EP99MS    float64 `json:"e2e_p99_ms"`
}

// sample appends one IMPoint per second to rep.Series until ctx ends.
func (r *imRun) sample(ctx context.Context, start time.Time, rep *IMReport) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prevAck, prevE2E := &Snapshot{}, &Snapshot{}
	var prevAcked, prevRecv int64
	last := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			dt := now.Sub(last).Seconds()
			a, e := r.ack.Snapshot(), r.e2e.Snapshot()
			da, de := a.Sub(prevAck), e.Sub(prevE2E)
			acked, recv := r.acked.Load(), r.received.Load()
			pt := IMPoint{T: now.Sub(start).Seconds(), Phase: r.phase.Load().(string),
				AckedPerSec: float64(acked-prevAcked) / dt, RecvPerSec: float64(recv-prevRecv) / dt,
				AckP50MS: ms(da.Quantile(0.5)), AckP99MS: ms(da.Quantile(0.99)),
				E2EP50MS: ms(de.Quantile(0.5)), E2EP99MS: ms(de.Quantile(0.99))}
			rep.Series = append(rep.Series, pt) // read once Run has waited for this goroutine
			prevAck, prevE2E, prevAcked, prevRecv, last = a, e, acked, recv, now
		}
	}
}

// progressLine is the progress text: phase, channels, acknowledged and received messages,
// errors and the last second's p99s.
func (r *imRun) progressLine(start time.Time) func() string {
	return func() string {
		phase := r.phase.Load().(string)
		r.errMu.Lock()
		var nerr int64
		for _, n := range r.errs {
			nerr += n
		}
		r.errMu.Unlock()
		e2e := r.e2e.Snapshot()
		return fmt.Sprintf("%-6s channels %d/%d  acked %d  received %d  errors %d  ack p99 %.1fms  e2e p99 %.1fms  %s / %s",
			phase, r.up.Load()-r.dropped.Load(), len(r.users), r.acked.Load(), r.received.Load(), nerr,
			ms(r.ack.Snapshot().Quantile(0.99)), ms(e2e.Quantile(0.99)), time.Since(start).Round(time.Second), r.cfg.Duration)
	}
}
