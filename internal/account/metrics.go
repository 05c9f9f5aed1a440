package account

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	registered prometheus.Counter
	logins     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		registered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_account_registered_total", Help: "Users registered.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_logins_total", Help: "Login attempts by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.registered, m.logins)
	return m
}
