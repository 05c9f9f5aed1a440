package job

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	in           prometheus.Counter
	bad          prometheus.Counter
	batches      prometheus.Counter
	cometErrors  prometheus.Counter
	cometDropped prometheus.Counter
	batchSize    prometheus.Histogram
	latency      prometheus.Histogram
	roomBatches  map[batchReason]prometheus.Counter
	comets       prometheus.Gauge
	active       prometheus.Gauge
	routedAway   prometheus.Counter
	replayed     prometheus.Counter
	cometDeaths  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		in: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_job_messages_in_total", Help: "Messages taken from the push stream.",
		}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_job_malformed_total", Help: "Push stream messages that could not be decoded (dropped).",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_job_batches_sent_total", Help: "Batches handed to comets (one per comet).",
		}),
		cometErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_job_comet_errors_total", Help: "Batches a comet failed or timed out on.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zhibo_job_batch_messages", Help: "Messages per room batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zhibo_job_push_latency_seconds", Help: "From publish to hand-off to the comets.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5},
		}),
	}
	m.cometDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zhibo_job_comet_dropped_total", Help: "Batches given up on for a comet: its queue was full, it was declared dead, or the job stopped before delivering them (those are delivered again by the next job).",
	})
	rb := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_job_room_batches_total",
		Help: "Room batches made, by why they left: quiet (the room had no batch in the last window: sent at once), window (the window since the last batch closed), full (max_batch reached), stop.",
	}, []string{"reason"})
	m.roomBatches = map[batchReason]prometheus.Counter{}
	for _, r := range []batchReason{reasonQuiet, reasonSpare, reasonWindow, reasonFull, reasonStop} {
		m.roomBatches[r] = rb.WithLabelValues(string(r))
	}
	m.comets = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zhibo_job_comets", Help: "Comets this job delivers to (fixed ones and those found through presence).",
	})
	m.routedAway = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zhibo_job_batches_routed_away_total", Help: "Room batches not sent to a comet because its report says it holds no viewer of the room.",
	})
	m.replayed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zhibo_job_batches_replayed_total", Help: "Room batches sent again to a comet whose first viewer of the room this job learned of after the batch had skipped it.",
	})
	m.active = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zhibo_job_active", Help: "1 while this job consumes the push stream (it holds the job-active lease), 0 while it stands by.",
	})
	m.cometDeaths = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zhibo_job_comet_deaths_total", Help: "Times a comet was declared dead (failing for job.comet_dead_after): its batches are then given up on until it answers.",
	})
	reg.MustRegister(m.cometDeaths, m.active, m.comets, m.routedAway, m.replayed, m.cometDropped, m.in, m.bad, m.batches, m.cometErrors, m.batchSize, m.latency, rb)
	return m
}
