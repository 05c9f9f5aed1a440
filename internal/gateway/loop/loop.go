// Package loop serves the gateway's fast lane on event loops: a few goroutines, one per core,
// each waiting on an epoll set that holds both the clients' connections and the connections
// to the upstreams, so that a forwarded request costs the reads and writes it needs and no
// goroutine hand-off. A client's request is read whole into the loop's buffer, parsed with
// net/http's own parser and served through the gateway's usual handler chain, run on the loop;
// the table's lean proxy, finding the loop under its response writer (pool.Async), gives it
// the outgoing head instead of making the exchange itself, and the loop writes the upstream's
// answer through the same chain as it comes (pool.AnswerHandler). Middleware that acts when its
// handler returns does so when the answer ends (httpx.After).
//
// The loop serves only what it can serve without blocking: requests the table forwards to
// groups of plain http:// addresses (Takes), with a body of at most MaxBodyBytes, whose
// handling reads no store and asks no other process (a token the verifier knows, no limit
// shared through Redis). A connection whose request is anything else goes to the goroutine
// lane (internal/gateway/lane) with the bytes already read — for good, or, when only that
// request would have blocked, until it is idle again (lane.Server.Return).
//
// Linux only (epoll); elsewhere Serve hands every connection to the lane.
package loop

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
)

// Verdict is what the loop does with a request (Server.Takes).
type Verdict int

const (
	// Serve: on the loop.
	Serve Verdict = iota
	// Lane: the connection goes to the lane for good (a request the loop never serves).
	Lane
	// Wait: the lane serves this request, which would block the loop (a store read, a call
	// to another process), and gives the connection back once it is idle.
	Wait
)

// Server serves connections on event loops.
type Server struct {
	Handler http.Handler
	// Takes decides what becomes of a parsed request (Verdict).
	Takes func(r *http.Request) Verdict
	// Lane serves the connections the loop gives away; Serve starts it.
	Lane *lane.Server
	// Timeouts as net/http's (lane.Server's): 0 = none.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request head (0 = 64 KiB); a larger one goes to the lane, whose
	// net/http answers 431.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body read on the loop (0 = 64 KiB); a larger one goes to
	// the lane.
	MaxBodyBytes int
	// Loops is how many event loops run (0 = GOMAXPROCS).
	Loops   int
	Log     *slog.Logger
	Metrics *Metrics

	impl // per platform
}

// Metrics count the loops' work.
type Metrics struct {
	served   prometheus.Counter
	handoffs *prometheus.CounterVec
	conns    prometheus.Gauge
	dials    prometheus.Counter
	upstream prometheus.Gauge
}

// NewMetrics registers the loops' metrics on reg (nil = nowhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		served: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_gateway_loop_requests_total",
			Help: "Requests the gateway served on its event loops."}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_loop_handoffs_total",
			Help: "Connections the event loops gave to the goroutine lane, by reason (request: for good; blocking: for one request; head, body, http2, upgrade)."}, []string{"reason"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zhibo_gateway_loop_connections",
			Help: "Client connections on the event loops."}),
		dials: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_gateway_loop_upstream_dials_total",
			Help: "Connections the event loops opened to upstream addresses."}),
		upstream: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zhibo_gateway_loop_upstream_connections",
			Help: "Open connections of the event loops to upstream addresses, busy or idle."}),
	}
	if reg != nil {
		reg.MustRegister(m.served, m.handoffs, m.conns, m.dials, m.upstream)
	}
	return m
}

// Reasons a connection goes to the lane.
const (
	reasonRequest  = "request"  // a request the loop never serves
	reasonBlocking = "blocking" // a request that would block the loop: back when idle
	reasonHead     = "head"     // a head too big, or one net/http's parser refuses
	reasonBody     = "body"     // a body over MaxBodyBytes, or chunked
	reasonHTTP2    = "http2"    // the h2c preface
	reasonUpgrade  = "upgrade"  // a protocol upgrade (WebSocket)
)

func (s *Server) defaults() {
	if s.Metrics == nil {
		s.Metrics = NewMetrics(nil)
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = 64 << 10
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 64 << 10
	}
}
