package grpcx

import (
	"crypto/tls"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are one process's gRPC metrics, server and client side, in the names Grafana's gRPC
// dashboards know: grpc_server_started_total, grpc_server_handled_total{grpc_code},
// grpc_server_handling_seconds, and the grpc_client_* twins, by service and method.
type Metrics struct {
	server *grpcprom.ServerMetrics
	client *grpcprom.ClientMetrics
}

// latencyBuckets suit calls on a local network: 100 µs to 5 s.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// NewMetrics registers the gRPC metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		server: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets))),
		client: grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets))),
	}
	reg.MustRegister(m.server, m.client)
	return m
}

// Option configures a Server or a client connection.
type Option func(*options)

type options struct {
	metrics *Metrics
	tls     *tls.Config
}

// WithMetrics counts the server's or the connection's calls in m.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithTLS makes the server serve, or the connection call, over TLS with c.
func WithTLS(c *tls.Config) Option { return func(o *options) { o.tls = c } }

func apply(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}
