package group

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted  prometheus.Counter
	refused   *prometheus.CounterVec
	stored    prometheus.Counter
	delivered prometheus.Counter
	failures  *prometheus.CounterVec
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
			Name: "zhibo_im_group_failures_total", Help: "Store writes and deliveries that failed and will be retried, by stage (store, deliver).",
		}, []string{"stage"}),
	}
	for _, r := range []string{"bad_input", "not_member", "limited", "queue"} {
		m.refused.WithLabelValues(r)
	}
	m.failures.WithLabelValues("store")
	m.failures.WithLabelValues("deliver")
	for _, c := range []prometheus.Collector{m.accepted, m.refused, m.stored, m.delivered, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
