package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
)

// debugWriteTimeout bounds one response on the metrics address. It is longer than the public
// write_timeout because a CPU profile or trace streams for as long as it was asked to
// (/debug/pprof/profile?seconds=30 by default), and pprof refuses a duration the server's
// write timeout would cut off.
const debugWriteTimeout = 2 * time.Minute

// debugMux serves /metrics and net/http/pprof: only ever on metrics_addr, never on http_addr.
func (s *Service) debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	if s.deps.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// startDebug listens on metrics_addr (under the process's connection total) and serves the
// debug mux in the background.
func (s *Service) startDebug() error {
	lim, err := connlimit.New(connlimit.Options{Listener: "metrics", Total: s.deps.Conns, Logger: s.log,
		Registry: s.deps.Registry})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("gateway: listen metrics_addr %s: %w", s.cfg.MetricsAddr, err)
	}
	s.debugSrv = &http.Server{
		Handler:           s.debugMux(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      max(s.cfg.WriteTimeout, debugWriteTimeout),
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.debugAddr = ln.Addr()
	s.debugDone = make(chan struct{})
	go func() {
		defer close(s.debugDone)
		if err := s.debugSrv.Serve(lim.Listen(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("gateway metrics address stopped serving", "err", err)
		}
	}()
	s.log.Info("gateway metrics and pprof listening", "addr", ln.Addr().String())
	return nil
}

// MetricsAddr is the bound metrics_addr after Start, nil when /metrics is on the public port.
func (s *Service) MetricsAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.debugAddr
}
