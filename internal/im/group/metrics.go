package group

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted  prometheus.Counter
	refused   *prometheus.CounterVec
	stored    prometheus.Counter
	delivered prometheus.Counter
	failures  *prometheus.CounterVec
	// The hot tier (hot.go).
	reads      *prometheus.CounterVec
	hotUpdates prometheus.Counter
	builds     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_group_accepted_total", Help: "Group messages accepted (on the queue, acknowledged to the sender).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_group_refused_total", Help: "Group messages refused, by reason (bad_input, not_member, limited, queue).",
		}, []string{"reason"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_group_stored_total", Help: "Group messages written to their group's timeline.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_group_delivered_total", Help: "Group messages handed to the push path for every member.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_group_failures_total", Help: "Failures by stage: store writes and deliveries (retried), and hot-tier writes and reads (hot: the tier is retried, reads fall back to the store).",
		}, []string{"stage"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_group_reads_total", Help: "Group history pages read, by source (hot: the Redis tier; store).",
		}, []string{"source"}),
		hotUpdates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_group_hot_updates_total", Help: "Group messages the hot tier's consumer put in Redis.",
		}),
		builds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_group_hot_builds_total", Help: "Groups' lists built in the hot tier from the store, after a read the tier did not hold.",
		}),
	}
	for _, r := range []string{"bad_input", "not_member", "limited", "queue"} {
		m.refused.WithLabelValues(r)
	}
	m.failures.WithLabelValues("store")
	m.failures.WithLabelValues("deliver")
	m.failures.WithLabelValues("hot")
	m.reads.WithLabelValues("hot")
	m.reads.WithLabelValues("store")
	for _, c := range []prometheus.Collector{m.accepted, m.refused, m.stored, m.delivered, m.failures, m.reads, m.hotUpdates, m.builds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
