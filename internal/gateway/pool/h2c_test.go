package pool

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
)

// healthService is grpc's health service, except that the service "fail" answers an error
// after sending headers, so its status travels in real trailers after them.
type healthService struct{ *health.Server }

func (s healthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() == "fail" {
		if err := grpc.SendHeader(ctx, metadata.Pairs("x-stage", "headers")); err != nil {
			return nil, err
		}
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-why", "testing"))
		return nil, grpcstatus.Error(codes.FailedPrecondition, "told to fail")
	}
	return s.Server.Check(ctx, req)
}

// grpcUpstream starts a gRPC server (h2c on a plain listener) and returns its h2c address.
func grpcUpstream(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, healthService{health.NewServer()})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return "h2c://" + l.Addr().String()
}

// h2cProxy serves a ReverseProxy over g as the route table will, accepting HTTP/1 and
// unencrypted HTTP/2 (what a gRPC client without TLS speaks).
func h2cProxy(t testing.TB, g *Group) string {
	t.Helper()
	placeholder := &url.URL{Scheme: "http", Host: "group.invalid"}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(placeholder)
			pr.Out.Host = pr.In.Host
		},
		Transport: g,
	}
	srv := httptest.NewUnstartedServer(proxy)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestH2CCarriesGRPCThroughReverseProxy(t *testing.T) {
	a, b := grpcUpstream(t), grpcUpstream(t)
	g, m := newGroup(t, Config{Addrs: []string{a, b}, Balance: BalanceRoundRobin})
	conn, err := grpc.NewClient(h2cProxy(t, g), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := healthpb.NewHealthClient(conn)
	ctx := t.Context()

	// A successful unary call ends with grpc-status in trailers after the message: without
	// them the client would fail the call.
	for range 4 {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	}
	for _, addr := range []string{a, b} {
		require.EqualValues(t, 2, testutil.ToFloat64(m.requests.WithLabelValues("test", addr, resultOK)), addr)
	}

	// An error after headers: status and trailer metadata in the trailers.
	var header, trailer metadata.MD
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "fail"}, grpc.Header(&header), grpc.Trailer(&trailer))
	require.Equal(t, codes.FailedPrecondition, grpcstatus.Code(err), "got %v", err)
	require.Equal(t, "told to fail", grpcstatus.Convert(err).Message())
	require.Equal(t, []string{"headers"}, header.Get("x-stage"))
	require.Equal(t, []string{"testing"}, trailer.Get("x-why"))

	// A trailers-only error (no message, no headers before it).
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nosuch"})
	require.Equal(t, codes.NotFound, grpcstatus.Code(err), "got %v", err)

	eventually(t, func() bool {
		return status(t, g, a).InFlight == 0 && status(t, g, b).InFlight == 0
	}, "streams end")
}

func TestGRPCHealthCheckTakesANotServingServerOutAndBack(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	addr := "h2c://" + l.Addr().String()
	const svc = "zhibo.room.v1.RoomService"
	hs.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)

	g, _ := newGroup(t, Config{Addrs: []string{addr},
		Health: Health{Path: "/" + svc, Interval: ms(20), Timeout: ms(500), Fails: 2, Passes: 1}})
	time.Sleep(100 * time.Millisecond) // a few probes: it stays up while SERVING
	require.True(t, status(t, g, addr).Up)
	hs.SetServingStatus(svc, healthpb.HealthCheckResponse_NOT_SERVING)
	eventually(t, func() bool { return !status(t, g, addr).Up }, "NOT_SERVING takes it out")
	hs.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	eventually(t, func() bool { return status(t, g, addr).Up }, "SERVING brings it back")

	// A service the server does not know answers NOT_FOUND: down.
	g2, _ := newGroup(t, Config{Name: "unknown", Addrs: []string{addr},
		Health: Health{Path: "/no.such.Service", Interval: ms(20), Timeout: ms(500), Fails: 1}})
	eventually(t, func() bool { return !status(t, g2, addr).Up }, "unknown service is down")
}
