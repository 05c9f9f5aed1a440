package elastic

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

func TestMarkInContextAndCarriers(t *testing.T) {
	ctx := context.Background()
	require.False(t, Marked(ctx))
	m := With(ctx)
	require.True(t, Marked(m))
	require.True(t, Marked(With(m)), "marking twice keeps it marked")
	require.False(t, Marked(ctx), "the parent is untouched")

	c := propagation.MapCarrier{}
	Inject(ctx, c)
	require.Empty(t, c, "an unmarked context writes nothing")
	Inject(m, c)
	require.Equal(t, Value, c[Header])
	require.True(t, Marked(Extract(ctx, c)))
	require.False(t, Marked(Extract(ctx, propagation.MapCarrier{Header: "fixed"})), "only the one value marks")

	h := http.Header{}
	h.Set(Header, Value)
	SetHeader(ctx, h)
	require.Empty(t, h.Values(Header), "an unmarked request forwards no mark, even one it was given")
	SetHeader(m, h)
	SetHeader(m, h)
	require.Equal(t, []string{Value}, h.Values(Header))
}

// The header marks a request only from a trusted proxy, and is gone from every request after
// the middleware.
func TestMiddlewareBelievesTrustedProxiesOnly(t *testing.T) {
	proxies, err := httpx.ParseProxies([]string{"10.0.0.0/8"})
	require.NoError(t, err)
	for _, c := range []struct {
		name, peer, value string
		trust, want       bool
	}{
		{"trusted proxy marks", "10.1.2.3:5000", Value, true, true},
		{"a client cannot pick its pool", "203.0.113.5:5000", Value, true, false},
		{"another value is no mark", "10.1.2.3:5000", "fixed", true, false},
		{"no header", "10.1.2.3:5000", "", true, false},
		{"served without TrustProxies: nobody is trusted", "10.1.2.3:5000", Value, false, false},
	} {
		var marked bool
		var seen []string
		var h http.Handler = Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			marked, seen = Marked(r.Context()), r.Header.Values(Header)
		}))
		if c.trust {
			h = httpx.TrustProxies(proxies, h)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.peer
		if c.value != "" {
			r.Header.Set(Header, c.value)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		require.Equal(t, c.want, marked, c.name)
		require.Empty(t, seen, "%s: the header is removed", c.name)
	}
}

// probe serves /zhibo.test.Probe/Call (unary) and /zhibo.test.Probe/Stream on a real gRPC
// server on 127.0.0.1:0 with the server interceptors, reporting whether each call's context
// was marked.
type probe struct {
	addr  string
	seen  chan bool
	calls prometheus.Counter
}

func startProbe(t *testing.T) *probe {
	p := &probe{seen: make(chan bool, 16), calls: prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_calls_total"})}
	s := grpc.NewServer(grpc.ChainUnaryInterceptor(UnaryServerInterceptor()), grpc.ChainStreamInterceptor(StreamServerInterceptor()))
	s.RegisterService(&grpc.ServiceDesc{ServiceName: "zhibo.test.Probe", HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			req := new(emptypb.Empty)
			if err := dec(req); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				p.calls.Inc()
				p.seen <- Marked(ctx)
				return &emptypb.Empty{}, nil
			}
			return in(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/zhibo.test.Probe/Call"}, h)
		}}},
		Streams: []grpc.StreamDesc{{StreamName: "Stream", ServerStreams: true, ClientStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
					return err
				}
				p.calls.Inc()
				p.seen <- Marked(ss.Context())
				return ss.SendMsg(&emptypb.Empty{})
			}}}}, struct{}{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	p.addr = ln.Addr().String()
	return p
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(UnaryClientInterceptor()), grpc.WithChainStreamInterceptor(StreamClientInterceptor()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// call makes one unary and one streaming call over cc and returns whether the server found
// each marked.
func call(t *testing.T, ctx context.Context, cc grpc.ClientConnInterface, p ...*probe) (unary, stream bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, cc.Invoke(ctx, "/zhibo.test.Probe/Call", &emptypb.Empty{}, &emptypb.Empty{}))
	unary = <-anyOf(p)
	s, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/zhibo.test.Probe/Stream")
	require.NoError(t, err)
	require.NoError(t, s.SendMsg(&emptypb.Empty{}))
	require.NoError(t, s.CloseSend())
	require.NoError(t, s.RecvMsg(new(emptypb.Empty)))
	stream = <-anyOf(p)
	return unary, stream
}

// anyOf merges the probes' reports: the one that was called answers.
func anyOf(ps []*probe) <-chan bool {
	if len(ps) == 1 {
		return ps[0].seen
	}
	out := make(chan bool, 1)
	go func() {
		select {
		case v := <-ps[0].seen:
			out <- v
		case v := <-ps[1].seen:
			out <- v
		}
	}()
	return out
}

// The mark crosses a real gRPC call, unary and streaming, through the client and server
// interceptors; an unmarked call stays unmarked.
func TestInterceptorsCarryTheMark(t *testing.T) {
	p := startProbe(t)
	cc := dial(t, p.addr)
	u, s := call(t, With(context.Background()), cc, p)
	require.True(t, u, "unary")
	require.True(t, s, "stream")
	u, s = call(t, context.Background(), cc, p)
	require.False(t, u, "unary")
	require.False(t, s, "stream")
}

// A Conn sends the calls of a marked context to the elastic peer, all others to the fixed
// one, and counts them by pool; without an elastic peer every call goes to the fixed one.
func TestConnPicksThePool(t *testing.T) {
	fixed, pool := startProbe(t), startProbe(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c := NewConn("room", dial(t, fixed.addr), dial(t, pool.addr), m)
	count := func(peer, pool string) float64 { return testutil.ToFloat64(m.calls.WithLabelValues(peer, pool)) }

	u, s := call(t, With(context.Background()), c, fixed, pool)
	require.True(t, u)
	require.True(t, s)
	require.Equal(t, 2.0, testutil.ToFloat64(pool.calls), "both marked calls reached the elastic peer")
	require.Equal(t, 0.0, testutil.ToFloat64(fixed.calls))
	require.Equal(t, 2.0, count("room", PoolElastic))
	require.Equal(t, 0.0, count("room", PoolFixed))

	u, s = call(t, context.Background(), c, fixed, pool)
	require.False(t, u)
	require.False(t, s)
	require.Equal(t, 2.0, testutil.ToFloat64(fixed.calls), "unmarked calls reached the fixed peer")
	require.Equal(t, 2.0, testutil.ToFloat64(pool.calls))
	require.Equal(t, 2.0, count("room", PoolFixed))

	alone := NewConn("gift", dial(t, fixed.addr), nil, m)
	u, _ = call(t, With(context.Background()), alone, fixed, pool)
	require.True(t, u, "the mark still travels")
	require.Equal(t, 4.0, testutil.ToFloat64(fixed.calls), "no elastic peer: marked calls go to the fixed one")
	require.Equal(t, 2.0, count("gift", PoolFixed))
	require.Equal(t, 0.0, count("gift", PoolElastic))

	n, err := testutil.GatherAndCount(reg, "zhibo_elastic_peer_calls_total")
	require.NoError(t, err)
	require.Equal(t, 4, n, "one series per peer and pool")
	require.NotPanics(t, func() { call(t, context.Background(), NewConn("x", dial(t, fixed.addr), nil, nil), fixed) }, "metrics are optional")
}
