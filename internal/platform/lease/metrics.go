package lease

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	held    *prometheus.GaugeVec
	changes *prometheus.CounterVec
	runs    *prometheus.CounterVec
}

// newMetrics registers the node's metrics; lease names come from code, never from input.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zhibo_lease_held",
			Help: "1 while this process holds the lease (runs its once-per-cluster task), else 0."}, []string{"lease"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_lease_changes_total",
			Help: "Holds of a lease by this process that began (acquired), ended unasked (lost) or were given up on stop (released)."},
			[]string{"lease", "change"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_lease_runs_total",
			Help: "Runs of a once-per-cluster task by this process while it held the lease."}, []string{"lease"}),
	}
	for _, c := range []prometheus.Collector{m.held, m.changes, m.runs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
