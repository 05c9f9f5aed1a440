package chat

import "github.com/prometheus/client_golang/prometheus"

// Refusal reasons of a send, the values of the reason label.
const (
	reasonBadInput = "bad_input"
	reasonBanned   = "banned"
	reasonBlocked  = "blocked"
	reasonLimited  = "limited"
	reasonNoUser   = "no_user"
	reasonQueue    = "queue"
	reasonSpam     = "spam"
	// reasonNotFollower: the receiver takes messages from followers only.
	reasonNotFollower = "not_follower"
)

// metrics count what happens to private messages on their way.
type metrics struct {
	accepted  prometheus.Counter
	replayed  prometheus.Counter
	refused   *prometheus.CounterVec
	stored    prometheus.Counter
	batch     prometheus.Histogram
	storeLag  prometheus.Histogram
	failures  *prometheus.CounterVec
	delivered prometheus.Counter

	reads      *prometheus.CounterVec
	hotUpdates prometheus.Counter
	warms      *prometheus.CounterVec
	bots       *prometheus.CounterVec
	stale      prometheus.Counter
	agentsOn   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_accepted_total", Help: "Private messages accepted (on the queue, acknowledged to the sender).",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_replayed_total", Help: "Sends that repeated a client message id: answered with the first message, nothing stored twice.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_refused_total", Help: "Private messages refused, by reason (bad_input, banned, blocked, limited, no_user, queue, spam, not_follower).",
		}, []string{"reason"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_stored_total", Help: "Private messages written to the store (content, both timelines, both conversations).",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zhibo_im_store_batch_size", Help: "Messages per store transaction.",
			Buckets: []float64{1, 4, 16, 64, 256, 1000},
		}),
		storeLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zhibo_im_store_lag_seconds", Help: "From a message's acceptance to its store write.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_im_failures_total", Help: "Failures by stage: store and deliver (retried), hot (a hot-tier call; the store answered or the event is retried).",
		}, []string{"stage"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_im_delivered_total", Help: "Private messages handed to the push path for their two sides' connections.",
		}),
	}
	m.reads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_im_reads_total", Help: "Conversation-list and unread reads by where they were answered: hot (the Redis tier) or store.",
	}, []string{"source"})
	m.hotUpdates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zhibo_im_hot_updates_total", Help: "States of the change stream offered to the hot tier (each written only over an older version).",
	})
	m.warms = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_im_hot_warms_total", Help: "Users put in the hot tier, by why: read (a read missed it) or prewarm (a message for a user with many conversations).",
	}, []string{"why"})
	m.bots = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_im_bot_calls_total", Help: "Bot webhook calls by result: answered, retried (a failure, called again), dropped (failed every try).",
	}, []string{"result"})
	for _, r := range []string{"answered", "retried", "dropped"} {
		m.bots.WithLabelValues(r)
	}
	m.stale = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zhibo_im_settings_stale_total", Help: "Sends checked against the last known blocks and settings because the store did not answer.",
	})
	m.agentsOn = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zhibo_im_agents_connected", Help: "Customer-service agents connected to a comet (presence), counted every 30 s; 0 when presence is off (im_chat.agent_stale 0).",
	})
	m.reads.WithLabelValues(sourceHot)
	m.reads.WithLabelValues(sourceStore)
	m.warms.WithLabelValues("read")
	m.warms.WithLabelValues("prewarm")
	m.failures.WithLabelValues("hot")
	for _, r := range []string{reasonBadInput, reasonBanned, reasonBlocked, reasonLimited, reasonNoUser, reasonQueue, reasonSpam, reasonNotFollower} {
		m.refused.WithLabelValues(r)
	}
	m.failures.WithLabelValues("store")
	m.failures.WithLabelValues("deliver")
	for _, c := range []prometheus.Collector{m.accepted, m.replayed, m.refused, m.stored, m.batch, m.storeLag, m.failures, m.delivered,
		m.reads, m.hotUpdates, m.warms, m.bots, m.stale, m.agentsOn} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
