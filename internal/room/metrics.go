package room

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	created     prometheus.Counter
	reads       prometheus.Counter
	liveChanges *prometheus.CounterVec
	pushRetries *prometheus.CounterVec
	cacheErrors prometheus.Counter
	liveExpired prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		created:     prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_room_created_total", Help: "Rooms created."}),
		reads:       prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_room_reads_total", Help: "Room lookups by other components and the API."}),
		liveChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_room_live_changes_total", Help: "Live status changes by new status."}, []string{"status"}),
	}
	m.cacheErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_room_cache_errors_total", Help: "Shared cache failures (reads fell back to the store)."})
	m.liveExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_room_live_expired_total",
		Help: "Rooms live by their video set preparing because no media process confirmed the stream within room.live_timeout."})
	m.pushRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_room_push_retries_total",
		Help: "Room notices (LIVE, PREPARING, ROOM_CHANGE) the queue refused, by what became of them: kept, pushed (again), dropped (after a minute)."}, []string{"result"})
	for _, r := range []string{"kept", "pushed", "dropped"} {
		m.pushRetries.WithLabelValues(r) // exported from the start: the alert sees 0, not nothing
	}
	reg.MustRegister(m.created, m.reads, m.liveChanges, m.cacheErrors, m.liveExpired, m.pushRetries)
	return m
}
