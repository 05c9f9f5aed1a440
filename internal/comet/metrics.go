package comet

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
)

// Close reasons counted in zhibo_comet_dropped_connections_total: the comet
// closed a connection that was too slow, silent, late or refused.
const (
	dropQueueFull        = "queue_full"
	dropWriteError       = "write_error"
	dropHeartbeatTimeout = "heartbeat_timeout"
	dropAuthTimeout      = "auth_timeout"
	dropAuthRejected     = "auth_rejected"
	dropIPLimit          = "ip_limit"
	dropTotalLimit       = "total_limit" // the process-wide connection cap (conns.max_total)
)

// refuseReason is the drop reason of a connlimit refusal.
func refuseReason(reason string) string {
	if reason == connlimit.ReasonTotal {
		return dropTotalLimit
	}
	return dropIPLimit
}

// Protocol-error reasons of the comet itself, in addition to the codec's
// (protocol.Reason: header_len, short, too_large, unknown_op, version,
// bad_auth).
const (
	protoNotAuth       = "not_auth"       // first packet was not op 7
	protoUnexpectedOp  = "unexpected_op"  // a server-to-client op from the client
	protoDuplicateAuth = "duplicate_auth" // op 7 after auth
	protoWSFrame       = "ws_frame"       // malformed WebSocket framing
)

const (
	transportTCP = "tcp"
	transportWS  = "ws"

	targetRoom      = "room"
	targetUsers     = "users"
	targetBroadcast = "broadcast"

	// Paths of a pushed frame (zhibo_comet_push_writes_total).
	writeDirect = "direct" // written whole by the push (deliver.go)
	writeQueued = "queued" // handed to the connection's send queue and writer
)

type metrics struct {
	connections *prometheus.GaugeVec
	connTCP     prometheus.Gauge
	connWS      prometheus.Gauge
	rooms       prometheus.Gauge
	parked      prometheus.Gauge
	messagesOut prometheus.Counter
	batches     *prometheus.CounterVec
	batchSize   prometheus.Histogram
	bytesOut    prometheus.Counter
	dropped     *prometheus.CounterVec
	protoErrors *prometheus.CounterVec
	writes      *prometheus.CounterVec
	merged      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "zhibo", "comet"
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections", Help: "Open client connections by transport."}, []string{"transport"}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "rooms", Help: "Rooms with at least one connection on this comet."}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "parked_connections", Help: "Connections waiting for input in an epoll poller, with no goroutine."}),
		messagesOut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_out_total", Help: "Op-5 messages queued to connections (messages x connections)."}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "batches_pushed_total", Help: "Push calls by target (room, users, broadcast)."}, []string{"target"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "batch_size", Help: "Messages per pushed batch.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500}}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "bytes_out_total", Help: "Bytes queued to connection writers (frames included)."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "dropped_connections_total", Help: "Connections the comet closed, by reason."}, []string{"reason"}),
		protoErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "protocol_errors_total", Help: "Connections closed for a protocol error, by reason."}, []string{"reason"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "push_writes_total", Help: "Pushed frames by path: written whole by the push (direct) or handed to the connection's send queue (queued)."}, []string{"path"}),
		merged: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "room_batches_merged_total", Help: "Room batches that arrived while the room's fan-out ran and left merged into the next one."}),
	}
	for _, c := range []prometheus.Collector{m.connections, m.rooms, m.parked, m.messagesOut, m.batches,
		m.batchSize, m.bytesOut, m.dropped, m.protoErrors, m.writes, m.merged} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("comet: register metrics: %w", err)
		}
	}
	m.connTCP = m.connections.WithLabelValues(transportTCP)
	m.connWS = m.connections.WithLabelValues(transportWS)
	for _, r := range []string{dropQueueFull, dropWriteError, dropHeartbeatTimeout, dropAuthTimeout, dropAuthRejected} {
		m.dropped.WithLabelValues(r)
	}
	for _, t := range []string{targetRoom, targetUsers, targetBroadcast} {
		m.batches.WithLabelValues(t)
	}
	return m, nil
}

func (m *metrics) connGauge(ws bool) prometheus.Gauge {
	if ws {
		return m.connWS
	}
	return m.connTCP
}
