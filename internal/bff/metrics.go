package bff

import "github.com/prometheus/client_golang/prometheus"

// Skip reasons, the values of the reason label.
const (
	skipSwitch = "switched_off" // an operator switched the module off
	skipTag    = "tag"          // the room's TAGs say the module is empty
	skipGuest  = "guest"        // the module is the viewer's and the viewer is not logged in
	skipAbsent = "absent"       // no component serves it: neither in this process nor named in peers
)

type metrics struct {
	degraded *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	// Hot rooms' pages kept in memory (hot.go).
	hotServed *prometheus.CounterVec
	hotLoads  *prometheus.CounterVec
	hotRooms  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		degraded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_bff_module_degraded_total",
			Help: "Page modules sent as degraded (their component failed or did not answer within bff.module_timeout, bff.im_module_timeout for the inbox's), by module."}, []string{"module"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_bff_module_skipped_total",
			Help: "Page modules answered without calling their component, by module and reason (switched_off, tag, guest, absent)."}, []string{"module", "reason"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zhibo_bff_module_seconds",
			Help:    "Time a page module's component took to answer (the page waits at most bff.module_timeout, bff.im_module_timeout for the inbox's), by module.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"module"}),
		hotServed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_bff_hot_served_total",
			Help: "Page modules of hot rooms served from this BFF's memory without calling their component, by module (room, comments, gifts, rank)."}, []string{"module"}),
		hotLoads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_bff_hot_loads_total",
			Help: "Loads of a hot room's page into memory (pre-warm and refresh), by result (ok, error)."}, []string{"result"}),
		hotRooms: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zhibo_bff_hot_rooms",
			Help: "Hot rooms whose page this BFF keeps in memory."}),
	}
	for _, mod := range modules {
		m.degraded.WithLabelValues(mod)
		m.seconds.WithLabelValues(mod)
	}
	for _, mod := range []string{modRoom, modComments, modGifts, modRank} {
		m.hotServed.WithLabelValues(mod)
	}
	m.hotLoads.WithLabelValues("ok")
	m.hotLoads.WithLabelValues("error")
	reg.MustRegister(m.degraded, m.skipped, m.seconds, m.hotServed, m.hotLoads, m.hotRooms)
	return m
}
