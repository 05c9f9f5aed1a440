package danmaku

import "github.com/prometheus/client_golang/prometheus"

// Rejection reasons, the values of the reason label.
const (
	reasonBadInput = "bad_input"
	reasonBanned   = "banned"
	reasonMuted    = "muted"
	reasonLimited  = "limited"
	reasonOff      = "switched_off"
	reasonReply    = "bad_reply" // reply_to names no comment of the room, or too old a one
)

// metrics count what happens to sent comments.
type metrics struct {
	accepted     prometheus.Counter
	rejected     *prometheus.CounterVec
	pushFailures prometheus.Counter
	relayed      prometheus.Counter
	mentions     *prometheus.CounterVec
}

// newMetrics registers the component's metrics on reg; limiters reports how many per-user
// limiters are held, which idle eviction keeps bounded.
func newMetrics(reg prometheus.Registerer, limiters func() float64) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_danmaku_accepted_total", Help: "Comments stored and sent to their room.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_danmaku_rejected_total", Help: "Comments refused, by reason (bad_input, banned, muted, limited, switched_off, bad_reply).",
		}, []string{"reason"}),
		pushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_danmaku_push_failures_total", Help: "Stored comments whose push to the room failed (the outbox relay pushes them later).",
		}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_danmaku_relayed_total", Help: "Comments pushed by the outbox relay after their own push failed.",
		}),
		mentions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_danmaku_mentions_published_total", Help: "Comments published on the MENTIONS stream for mention and reply notices (those with an '@', and replies to someone else), by result (ok, error); a failed one is published again by the outbox relay.",
		}, []string{"result"}),
	}
	m.mentions.WithLabelValues("ok")
	m.mentions.WithLabelValues("error")
	for _, r := range []string{reasonBadInput, reasonBanned, reasonMuted, reasonLimited, reasonOff, reasonReply} {
		m.rejected.WithLabelValues(r) // export zeros so rates work from the start
	}
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zhibo_danmaku_rate_limiters", Help: "Per-user rate limiters held in memory.",
	}, limiters)
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.pushFailures, m.relayed, m.mentions, held} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
