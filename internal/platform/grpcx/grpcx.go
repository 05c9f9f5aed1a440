// Package grpcx is the gRPC plumbing between components of a cluster: a server with panic
// recovery, logging, error mapping and the elastic-pool mark (package elastic), and client
// connections to peers named in config (host:port, or dns:///name:port to follow DNS) that
// carry the mark on.
package grpcx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// Server is one process's gRPC listener, serving every local component that registers on it.
type Server struct {
	*grpc.Server
	log  *slog.Logger
	addr string

	metrics *Metrics // nil = not counted

	mu   sync.Mutex
	ln   net.Listener
	done chan struct{}
}

// NewServer builds a server that will listen on addr.
func NewServer(addr string, log *slog.Logger, opts ...Option) *Server {
	o := apply(opts)
	s := &Server{log: log, addr: addr, metrics: o.metrics}
	// The elastic mark first, so the handler and every interceptor see a marked context.
	unary := []grpc.UnaryServerInterceptor{elastic.UnaryServerInterceptor(), s.recover, toStatus}
	if o.metrics != nil {
		unary = append([]grpc.UnaryServerInterceptor{o.metrics.server.UnaryServerInterceptor()}, unary...)
	}
	serverOpts := []grpc.ServerOption{}
	if o.tls != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(o.tls)))
	}
	s.Server = grpc.NewServer(append(serverOpts,
		// Each call is a span of the caller's trace (or of a new one), so the handler's log
		// lines carry a trace id either way.
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(obs.TracerProvider()),
			otelgrpc.WithPropagators(obs.Propagator))),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(elastic.StreamServerInterceptor()),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	return s
}

// Start listens and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("grpc: listen %s: %w", s.addr, err)
	}
	if s.metrics != nil {
		s.metrics.server.InitializeMetrics(s.Server) // every method at 0, before its first call
	}
	s.mu.Lock()
	s.ln, s.done = ln, make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc server stopped", "err", err)
		}
	}()
	s.log.Info("grpc listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the listening address after Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stop finishes in-flight calls (bounded by ctx) and closes the listener.
func (s *Server) Stop(ctx context.Context) error {
	if s.done == nil {
		return nil
	}
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.Server.Stop()
	}
	<-s.done
	return nil
}

func (s *Server) recover(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(ctx, "grpc handler panicked", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return h(ctx, req)
}

// errorDomain marks the status details zhibo peers attach (errdetails.ErrorInfo), so a client
// never mistakes another party's status for one of them.
const (
	errorDomain = "zhibo"
	errorReason = "API_ERROR"
)

// toStatus maps an apierr kind to a gRPC status: a gRPC code for generic clients, and the
// kind's code and HTTP status as typed details (errdetails.ErrorInfo), so a zhibo client
// rebuilds the same kind without reading the message.
func toStatus(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err == nil {
		return resp, nil
	}
	if _, ok := status.FromError(err); ok {
		return nil, err
	}
	e := apierr.From(err)
	st := status.New(codeFor(e.Status), e.Message)
	if withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: errorReason, Domain: errorDomain,
		Metadata: map[string]string{"code": strconv.Itoa(e.Code), "http_status": strconv.Itoa(e.Status)}}); derr == nil {
		st = withInfo
	}
	return nil, st.Err()
}

func codeFor(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.FailedPrecondition
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

var httpFor = map[codes.Code]int{
	codes.InvalidArgument: http.StatusBadRequest, codes.Unauthenticated: http.StatusUnauthorized,
	codes.PermissionDenied: http.StatusForbidden, codes.NotFound: http.StatusNotFound,
	codes.FailedPrecondition: http.StatusConflict, codes.ResourceExhausted: http.StatusTooManyRequests,
	codes.Unavailable: http.StatusServiceUnavailable, codes.DeadlineExceeded: http.StatusServiceUnavailable,
}

// FromStatus turns a gRPC error from a peer back into an apierr kind: the code, HTTP status and
// message a zhibo peer put in its status details, or, for any other status, the HTTP status of
// its gRPC code with the message as it came.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return apierr.Unavailable.Wrap(err)
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain || info.GetReason() != errorReason {
			continue
		}
		code, cerr := strconv.Atoi(info.GetMetadata()["code"])
		httpStatus, herr := strconv.Atoi(info.GetMetadata()["http_status"])
		if cerr == nil && herr == nil && httpStatus >= 400 && httpStatus <= 599 {
			return apierr.New(httpStatus, code, st.Message()).Wrap(err)
		}
	}
	httpStatus, ok := httpFor[st.Code()]
	if !ok {
		httpStatus = http.StatusInternalServerError
	}
	return apierr.New(httpStatus, -httpStatus, st.Message()).Wrap(err)
}

// Dial opens a client connection to a peer; it connects lazily and reconnects by itself.
func Dial(target string, opts ...Option) (*grpc.ClientConn, error) {
	o := apply(opts)
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(creds),
		// A call made for a request marked for the elastic pool carries the mark on.
		grpc.WithChainUnaryInterceptor(elastic.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(elastic.StreamClientInterceptor())}
	if o.metrics != nil {
		dialOpts = append(dialOpts, grpc.WithChainUnaryInterceptor(o.metrics.client.UnaryClientInterceptor()))
	}
	cc, err := grpc.NewClient(target, append(dialOpts,
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		// A peer that restarts is reached again within about a second, not after gRPC's
		// default back-off (which grows to two minutes): calls fail fast meanwhile.
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 2 * time.Second, Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}),
		// The call carries the caller's trace context (deadlines cross by themselves: gRPC
		// sends the context's deadline with every call).
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(obs.TracerProvider()),
			otelgrpc.WithPropagators(obs.Propagator))),
	)...)
	if err != nil {
		return nil, fmt.Errorf("grpc: dial %s: %w", target, err)
	}
	return cc, nil
}
