package notice

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent         *prometheus.CounterVec
	batches      *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	failures     prometheus.Counter
	pushFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_batches_sent_total", Help: "Batch sends accepted, by lane (normal, high).",
		}, []string{"lane"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_batches_done_total", Help: "Batch sends delivered to every recipient, by lane.",
		}, []string{"lane"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_notice_recipients_total", Help: "Recipients a notice was delivered to (inbox and unread count), by lane.",
		}, []string{"lane"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zhibo_im_notice_batch_seconds", Help: "From a batch's acceptance to its last recipient, by lane.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}, []string{"lane"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_notice_failures_total", Help: "Batches interrupted by a failure and retried (delivered chunks are skipped).",
		}),
		pushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_notice_push_failures_total", Help: "Delivered chunks whose live push failed (the notices wait in the inboxes).",
		}),
	}
	for _, l := range []string{LaneNormal, LaneHigh} {
		m.sent.WithLabelValues(l)
		m.batches.WithLabelValues(l)
		m.delivered.WithLabelValues(l)
		m.latency.WithLabelValues(l)
	}
	for _, c := range []prometheus.Collector{m.sent, m.batches, m.delivered, m.latency, m.failures, m.pushFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
