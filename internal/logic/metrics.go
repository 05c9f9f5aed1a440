package logic

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connects    *prometheus.CounterVec
	disconnects prometheus.Counter
	comets      prometheus.Gauge
	rooms       prometheus.Gauge
	leases      prometheus.Gauge
	entries     *prometheus.CounterVec
	// presenceErrs counts reports and joins the presence bucket did not take.
	presenceErrs prometheus.Counter
}

// Results of Connect (zhibo_logic_connects_total).
const (
	connectOK        = "ok"
	connectInvalid   = "invalid"    // bad, expired or foreign token, wrong room or uid
	connectTokenBusy = "token_busy" // the token already holds max_conns_per_token connections
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_logic_connects_total", Help: "Connection auths by result (ok, invalid, token_busy).",
		}, []string{"result"}),
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_logic_disconnects_total", Help: "Connections that left.",
		}),
		comets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_logic_comets", Help: "Comets with a report not yet forgotten, cluster-wide.",
		}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_logic_rooms_online", Help: "Rooms with at least one connection.",
		}),
		leases: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_logic_token_leases", Help: "Connection tokens holding at least one connection slot.",
		}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_logic_entries_total", Help: "Entries of logged-in viewers by what became of their INTERACT_WORD (announced, repeat, room_rate, full).",
		}, []string{"result"}),
		presenceErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_logic_presence_errors_total", Help: "Comet reports and room joins that could not be shared through the presence bucket.",
		}),
	}
	reg.MustRegister(m.connects, m.disconnects, m.comets, m.rooms, m.leases, m.entries, m.presenceErrs)
	for _, r := range []string{connectOK, connectInvalid, connectTokenBusy} {
		m.connects.WithLabelValues(r)
	}
	for _, r := range []string{entryAnnounced, entryRepeat, entryRoomRate, entryFull} {
		m.entries.WithLabelValues(r)
	}
	return m
}
