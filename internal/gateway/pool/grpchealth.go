package pool

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// grpcHealthMethod is the path of the standard gRPC health check (grpc.health.v1).
const grpcHealthMethod = "/grpc.health.v1.Health/Check"

// maxHealthAnswer bounds the health answer read from an upstream.
const maxHealthAnswer = 4 << 10

// probeGRPC asks an h2c address the standard gRPC health check for the service Health.Path
// names ("/" = the server as a whole, "/zhibo.room.v1.RoomService" = that service): it
// passes when the answer is SERVING with grpc-status 0.
func (g *Group) probeGRPC(ctx context.Context, u *upstream) error {
	msg, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: strings.TrimPrefix(g.cfg.Health.Path, "/")})
	if err != nil {
		return err
	}
	frame := make([]byte, 5, 5+len(msg)) // uncompressed flag, big-endian length, message
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	frame = append(frame, msg...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.scheme+"://"+u.host+grpcHealthMethod, bytes.NewReader(frame))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", "zhibo-gateway-health")
	resp, err := g.transport(u).RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthAnswer))
	if err != nil {
		return err
	}
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status") // a trailers-only answer
	}
	if resp.StatusCode != http.StatusOK || status != "0" {
		return fmt.Errorf("grpc health check: http %d, grpc-status %q %s", resp.StatusCode, status, resp.Trailer.Get("Grpc-Message"))
	}
	if len(body) < 5 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 || body[0] != 0 {
		return fmt.Errorf("grpc health check: malformed answer of %d bytes", len(body))
	}
	var out healthpb.HealthCheckResponse
	if err := proto.Unmarshal(body[5:], &out); err != nil {
		return fmt.Errorf("grpc health check: %w", err)
	}
	if out.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("grpc health check: %s", out.GetStatus())
	}
	return nil
}
