package logic

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connects    *prometheus.CounterVec
	disconnects prometheus.Counter
	comets      prometheus.Gauge
	rooms       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_logic_connects_total", Help: "Connection auths by result.",
		}, []string{"result"}),
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_logic_disconnects_total", Help: "Connections that left.",
		}),
		comets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_logic_comets", Help: "Comets reporting counts.",
		}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_logic_rooms_online", Help: "Rooms with at least one connection.",
		}),
	}
	reg.MustRegister(m.connects, m.disconnects, m.comets, m.rooms)
	return m
}
