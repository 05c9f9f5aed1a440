package gift

import "github.com/prometheus/client_golang/prometheus"

// Order results counted by zhibo_gift_orders_total.
const (
	resultCreated      = "created"
	resultReplayed     = "replayed"
	resultInsufficient = "insufficient"
	resultKeyReused    = "key_reused"
	resultRejected     = "rejected"
)

// metrics are the gift component's metrics, built from the injected registry.
type metrics struct {
	orders        *prometheus.CounterVec
	goldSpent     prometheus.Counter
	publishFails  prometheus.Counter
	pushFails     prometheus.Counter
	relayed       prometheus.Counter
	flushes       *prometheus.CounterVec
	rowsPerFlush  prometheus.Histogram
	folded        prometheus.Counter
	skipped       prometheus.Counter
	appliedSeq    prometheus.Gauge
	pendingEvents prometheus.Gauge
	credits       *prometheus.CounterVec
	credited      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_gift_orders_total",
			Help: "Gift sends by result: created (charged), replayed (same idempotency key, not charged), insufficient, key_reused.",
		}, []string{"result"}),
		goldSpent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_gift_gold_spent_total", Help: "Coins spent on gold gifts in created orders.",
		}),
		publishFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_gift_publish_failures_total", Help: "Order events whose publish failed (the outbox relay retries them).",
		}),
		pushFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_gift_push_failures_total", Help: "SEND_GIFT room pushes that failed.",
		}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_gift_outbox_relayed_total", Help: "Order events published by the outbox relay.",
		}),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_gift_aggregate_flushes_total", Help: "Score aggregation flushes by result (ok, error).",
		}, []string{"result"}),
		rowsPerFlush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "zhibo_gift_aggregate_rows_per_flush",
			Help:    "Score rows (anchor scores and rank entries) written by one aggregation flush.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		folded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_gift_aggregate_messages_folded_total", Help: "Order events folded into scores (each order counts once).",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_gift_aggregate_messages_skipped_total", Help: "Redelivered or duplicate order events acknowledged without counting again.",
		}),
		appliedSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_gift_aggregate_applied_seq", Help: "Highest GIFT stream sequence applied to scores.",
		}),
		pendingEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_gift_aggregate_pending_messages", Help: "Order events received and not yet flushed.",
		}),
		credits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_gift_wallet_credits_total",
			Help: "Wallet credits (admin top-ups, payments) by result: created, replayed (same idempotency key, not credited again), key_reused, rejected (bad input, unknown user, balance limit).",
		}, []string{"result"}),
		credited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_gift_wallet_credited_coins_total", Help: "Coins credited to wallets by created credits.",
		}),
	}
	for _, c := range []prometheus.Collector{m.credits, m.credited, m.orders, m.goldSpent, m.publishFails, m.pushFails, m.relayed,
		m.flushes, m.rowsPerFlush, m.folded, m.skipped, m.appliedSeq, m.pendingEvents} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
