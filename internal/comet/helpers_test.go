package comet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/protocol"
)

// fakeLogic accepts every token except "bad"; guests keep uid 0, others
// act as the uid they sent. A token "sess:N" has session N; any other gets a
// new session per connection (so every guest is a distinct viewer). It
// answers reports with global.
type fakeLogic struct {
	mu          sync.Mutex
	popularity  int64
	global      map[int64]int64
	connects    int
	disconnects []int64 // room ids
	sessions    []int64 // sessions of disconnects
	reports     int
	watched     []int64 // what ReportOnline answers
	users       []int64 // the last report's
}

func (f *fakeLogic) Connect(_ context.Context, _ string, token string, uid, roomID int64) (int64, int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token == "bad" {
		return 0, 0, 0, errors.New("invalid token")
	}
	f.connects++
	session := int64(1000000 + f.connects)
	if n, ok := strings.CutPrefix(token, "sess:"); ok {
		session, _ = strconv.ParseInt(n, 10, 64)
	}
	return uid, session, f.popularity, nil
}

func (f *fakeLogic) Disconnect(_ context.Context, _ string, _, roomID, session int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnects = append(f.disconnects, roomID)
	f.sessions = append(f.sessions, session)
	return nil
}

func (f *fakeLogic) ReportOnline(_ context.Context, _, _ string, rooms map[int64]int64, users []int64) (map[int64]int64, []int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports++
	f.users = users
	out := make(map[int64]int64, len(f.global))
	for k, v := range f.global {
		out[k] = v
	}
	return out, f.watched, nil
}

func (f *fakeLogic) disconnectCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.disconnects)
}

type env struct {
	svc   *Service
	logic *fakeLogic
	reg   *prometheus.Registry
	wsURL string
}

// testPoller is comet.poller in the tests' configs: on unless
// ZHIBO_TEST_COMET_POLLER=off; TestWithoutPoller turns it off for the suite
// it reruns.
var testPoller = os.Getenv("ZHIBO_TEST_COMET_POLLER") != "off"

// testConfig is fast: short report interval, everything on 127.0.0.1:0.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Poller = testPoller
	cfg.ServerID = "comet-test"
	cfg.TCPAddr = "127.0.0.1:0"
	cfg.Buckets = 4
	cfg.ReportInterval = 20 * time.Millisecond
	cfg.WriteTimeout = 2 * time.Second
	cfg.MaxConnsPerIP = 0 // tests dial hundreds from 127.0.0.1; iplimit_test.go sets a cap
	return cfg
}

func startEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	e := &env{logic: &fakeLogic{popularity: 777}, reg: prometheus.NewRegistry()}
	svc, err := New(cfg, Deps{Logic: e.logic, Registry: e.reg})
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	e.svc = svc
	// WebSocket connections reach the comet through the gateway's connection-limited listener
	// in production: serve them through the same wrapper (no caps) so type checks on the
	// connection see what they see there.
	hl, err := connlimit.New(connlimit.Options{Listener: "test"})
	require.NoError(t, err)
	hs := httptest.NewUnstartedServer(svc.Handler())
	hs.Listener = hl.Listen(hs.Listener)
	hs.Start()
	e.wsURL = "ws" + strings.TrimPrefix(hs.URL, "http") + "/sub"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, svc.Stop(ctx))
		hs.Close()
	})
	return e
}

// client is a test client speaking the protocol over TCP or WebSocket.
type client struct {
	t  testing.TB
	nc net.Conn
	r  io.Reader
	ws bool
}

func (e *env) dialTCP(t testing.TB) *client {
	t.Helper()
	nc, err := net.Dial("tcp", e.svc.TCPAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (e *env) dialWS(t testing.TB) *client {
	t.Helper()
	nc, br, _, err := ws.Dial(context.Background(), e.wsURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	var r io.Reader = nc
	if br != nil {
		r = io.MultiReader(br, nc)
	}
	return &client{t: t, nc: nc, r: bufio.NewReader(r), ws: true}
}

func (e *env) dial(t testing.TB, isWS bool) *client {
	if isWS {
		return e.dialWS(t)
	}
	return e.dialTCP(t)
}

// send writes raw packet bytes (as one masked binary frame on WebSocket).
func (c *client) send(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	var err error
	if c.ws {
		err = ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewBinaryFrame(b)))
	} else {
		_, err = c.nc.Write(b)
	}
	require.NoError(c.t, err)
}

// readRaw reads the next unit the server wrote: one WebSocket frame payload
// (which must be binary), or one TCP packet.
func (c *client) readRaw(timeout time.Duration) ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	if c.ws {
		for {
			h, err := ws.ReadHeader(c.r)
			if err != nil {
				return nil, err
			}
			payload := make([]byte, h.Length)
			if _, err := io.ReadFull(c.r, payload); err != nil {
				return nil, err
			}
			if h.Masked {
				return nil, errors.New("server frame is masked")
			}
			switch h.OpCode {
			case ws.OpBinary:
				return payload, nil
			case ws.OpClose:
				return nil, io.EOF
			case ws.OpPong:
				continue
			default:
				return nil, errors.New("server sent a non-binary data frame")
			}
		}
	}
	hdr := make([]byte, protocol.HeaderLen)
	if _, err := io.ReadFull(c.r, hdr); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr)
	out := make([]byte, n)
	copy(out, hdr)
	_, err := io.ReadFull(c.r, out[protocol.HeaderLen:])
	return out, err
}

// read returns the packets of the next unit, compound packets unwrapped, and
// the header of its first (outer) packet.
func (c *client) read() (protocol.Header, []protocol.Packet) {
	c.t.Helper()
	raw, err := c.readRaw(5 * time.Second)
	require.NoError(c.t, err)
	h, err := protocol.ParseHeader(raw, 1<<20)
	require.NoError(c.t, err)
	ps, err := protocol.DecodeAll(raw, 1<<20)
	require.NoError(c.t, err)
	return h, ps
}

func (c *client) auth(a protocol.AuthBody) protocol.Packet {
	c.t.Helper()
	c.send(protocol.AppendAuth(nil, 1, a))
	h, ps := c.read()
	require.Len(c.t, ps, 1)
	require.Equal(c.t, protocol.OpAuthReply, h.Op)
	require.Equal(c.t, protocol.VerInt, h.Ver)
	return ps[0]
}

func (c *client) join(roomID int64, protover int) {
	c.t.Helper()
	p := c.auth(protocol.AuthBody{UID: 0, RoomID: roomID, ProtoVer: protover, Platform: "web", Type: 2, Key: "ok"})
	require.JSONEq(c.t, `{"code":0}`, string(p.Body))
}

// expectClosed waits until the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, err := c.readRaw(time.Until(deadline))
		if err == nil {
			continue // drain anything still in flight
		}
		var ne net.Error
		require.False(c.t, errors.As(err, &ne) && ne.Timeout(), "connection still open")
		return
	}
	c.t.Fatal("connection still open")
}

func counter(t testing.TB, v *prometheus.CounterVec, label string) float64 {
	t.Helper()
	return testutil.ToFloat64(v.WithLabelValues(label))
}

// eventually polls cond every 5 ms for up to 5 s.
func eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 5*time.Millisecond, msg)
}

func counterTotal(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }
