package elastic

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Pool labels of zhibo_elastic_peer_calls_total.
const (
	PoolFixed   = "fixed"
	PoolElastic = "elastic"
)

// Metrics count calls to peers by the pool they went to.
type Metrics struct {
	calls *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{calls: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_elastic_peer_calls_total",
		Help: "gRPC calls to a peer component by the pool they went to: elastic (a marked request, peers.elastic.<peer> set) or fixed (every other call).",
	}, []string{"peer", "pool"})}
	reg.MustRegister(m.calls)
	return m
}

// Conn is a peer reached through its fixed connection, and through an elastic one (when
// peers.elastic names it) for the calls of marked requests. Typed gRPC clients take it in
// place of a *grpc.ClientConn.
type Conn struct {
	fixed, elastic *grpc.ClientConn
	// counted per pool, label values fixed at construction
	toFixed, toElastic prometheus.Counter
}

var _ grpc.ClientConnInterface = (*Conn)(nil)

// NewConn sends the calls to peer over fixed, and those of a marked context over elastic
// when it is not nil, counting them in m (nil = not counted).
func NewConn(peer string, fixed, elastic *grpc.ClientConn, m *Metrics) *Conn {
	if m == nil {
		m = &Metrics{calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unregistered"}, []string{"peer", "pool"})}
	}
	return &Conn{fixed: fixed, elastic: elastic,
		toFixed: m.calls.WithLabelValues(peer, PoolFixed), toElastic: m.calls.WithLabelValues(peer, PoolElastic)}
}

// pick is the connection for a call made in ctx, counted.
func (c *Conn) pick(ctx context.Context) *grpc.ClientConn {
	if c.elastic != nil && Marked(ctx) {
		c.toElastic.Inc()
		return c.elastic
	}
	c.toFixed.Inc()
	return c.fixed
}

// Invoke implements grpc.ClientConnInterface.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return c.pick(ctx).Invoke(ctx, method, args, reply, opts...)
}

// NewStream implements grpc.ClientConnInterface.
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.pick(ctx).NewStream(ctx, desc, method, opts...)
}
