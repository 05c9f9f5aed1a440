package queue

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// consumers are the durable consumers this process consumes from, for their lag metrics.
type consumers struct {
	mu   sync.Mutex
	list map[[2]string]jetstream.Consumer // (stream, durable) → consumer
}

func (c *consumers) add(stream, durable string, cons jetstream.Consumer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list == nil {
		c.list = map[[2]string]jetstream.Consumer{}
	}
	c.list[[2]string{stream, durable}] = cons
}

func (c *consumers) remove(stream, durable string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.list, [2]string{stream, durable})
}

var (
	lagDesc = prometheus.NewDesc("zhibo_queue_consumer_pending_messages",
		"Messages of the stream not yet delivered to the durable consumer (its lag), per consumer this process consumes from.",
		[]string{"stream", "durable"}, nil)
	ackDesc = prometheus.NewDesc("zhibo_queue_consumer_ack_pending_messages",
		"Messages delivered to the durable consumer and not yet acknowledged.", []string{"stream", "durable"}, nil)
	redeliveredDesc = prometheus.NewDesc("zhibo_queue_consumer_redelivered_messages",
		"Messages delivered more than once and not yet acknowledged.", []string{"stream", "durable"}, nil)
)

// Collector reports the lag of every durable consumer this process consumes from, asked of
// the server at each scrape (bounded to a second per consumer; a consumer that does not
// answer is left out of that scrape).
func (q *Queue) Collector() prometheus.Collector { return consumerCollector{q} }

type consumerCollector struct{ q *Queue }

func (consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- ackDesc
	ch <- redeliveredDesc
}

func (c consumerCollector) Collect(ch chan<- prometheus.Metric) {
	c.q.consumers.mu.Lock()
	list := make(map[[2]string]jetstream.Consumer, len(c.q.consumers.list))
	for k, v := range c.q.consumers.list {
		list[k] = v
	}
	c.q.consumers.mu.Unlock()
	for k, cons := range list {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := cons.Info(ctx)
		cancel()
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(info.NumPending), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(ackDesc, prometheus.GaugeValue, float64(info.NumAckPending), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(redeliveredDesc, prometheus.GaugeValue, float64(info.NumRedelivered), k[0], k[1])
	}
}
