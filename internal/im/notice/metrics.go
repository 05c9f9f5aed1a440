package notice

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent         *prometheus.CounterVec
	batches      *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	failures     prometheus.Counter
	pushFailures prometheus.Counter
	produced     *prometheus.CounterVec
	skipped      *prometheus.CounterVec
}

// Why a mention, a reply or a like gave no notice (zhibo_im_notice_skipped_total{reason}).
const (
	skipSelf     = "self"       // a user mentioning or replying to themself, an anchor liking their own room
	skipReplied  = "replied"    // @name of the user a comment replies to: their reply notice is the one
	skipUnknown  = "unknown"    // @name of no user
	skipOverCap  = "over_cap"   // names past im_notice.max_mentions
	skipReplay   = "replay"     // a comment, like or follow event already counted; a follower's second follow of a day
	skipNoRoom   = "no_room"    // likes of a room that no longer exists
	skipBadEvent = "unreadable" // a stream message that cannot be decoded
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_batches_sent_total", Help: "Batch sends accepted, by lane (normal, high).",
		}, []string{"lane"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_batches_done_total", Help: "Batch sends delivered to every recipient, by lane.",
		}, []string{"lane"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_recipients_total", Help: "Recipients a notice was delivered to (inbox and unread count), by lane.",
		}, []string{"lane"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zhibo_im_notice_batch_seconds", Help: "From a batch's acceptance to its last recipient, by lane.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}, []string{"lane"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_notice_failures_total", Help: "Batches interrupted by a failure and retried (delivered chunks are skipped).",
		}),
		pushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_notice_push_failures_total", Help: "Delivered chunks whose live push failed (the notices wait in the inboxes).",
		}),
		produced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_interactive_total", Help: "Interactive notices produced, by kind (mention, reply, follow; like: a like notice opened).",
		}, []string{"kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_skipped_total", Help: "Mentions, replies, like and follow events that gave no notice, by reason (self, unknown, over_cap, replay, replied, no_room, unreadable).",
		}, []string{"reason"}),
	}
	for _, k := range []string{"mention", "like", "follow", "reply"} {
		m.produced.WithLabelValues(k)
	}
	for _, r := range []string{skipSelf, skipUnknown, skipOverCap, skipReplay, skipReplied, skipNoRoom, skipBadEvent} {
		m.skipped.WithLabelValues(r)
	}
	for _, l := range []string{LaneNormal, LaneHigh} {
		m.sent.WithLabelValues(l)
		m.batches.WithLabelValues(l)
		m.delivered.WithLabelValues(l)
		m.latency.WithLabelValues(l)
	}
	for _, c := range []prometheus.Collector{m.sent, m.batches, m.delivered, m.latency, m.failures, m.pushFailures, m.produced, m.skipped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
