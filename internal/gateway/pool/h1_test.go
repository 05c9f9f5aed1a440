package pool

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rawUpstream answers each request on a connection with what answer writes, byte for byte;
// it counts connections and keeps the last request's head and body.
type rawUpstream struct {
	addr  string
	conns atomic.Int64
	last  atomic.Pointer[http.Request]
	body  atomic.Pointer[string]
}

func newRawUpstream(t *testing.T, answer func(w io.Writer, r *http.Request) (keep bool)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	u := &rawUpstream{addr: "http://" + ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					b, _ := io.ReadAll(r.Body)
					s := string(b)
					u.body.Store(&s)
					u.last.Store(r)
					if !answer(c, r) {
						return
					}
				}
			}()
		}
	}()
	return u
}

func leanGroup(t *testing.T, addrs ...string) *Group {
	t.Helper()
	g, _ := newGroup(t, Config{Name: "lean", Addrs: addrs})
	require.True(t, g.Lean())
	return g
}

func get(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: example.test\r\n")
}

// exchangeAll makes one exchange and reads its whole body.
func exchangeAll(t *testing.T, g *Group, head []byte, body io.Reader, n int64) (*Answer, string, error) {
	t.Helper()
	a, err := g.Exchange(context.Background(), head, body, n, true)
	if err != nil {
		return nil, "", err
	}
	defer a.Close()
	b, err := io.ReadAll(a)
	return a, string(b), err
}

func TestExchangeKeepsConnectionsAliveAcrossLengthAndChunkedAnswers(t *testing.T) {
	n := 0
	u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		n++
		if n%2 == 0 {
			_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n")
		} else {
			_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: length\r\n\r\nabcde")
		}
		return true
	})
	g := leanGroup(t, u.addr)
	for i := range 6 {
		a, body, err := exchangeAll(t, g, get("/x"), nil, 0)
		require.NoError(t, err, i)
		require.Equal(t, 200, a.Status)
		require.Equal(t, "abcde", body)
	}
	require.EqualValues(t, 1, u.conns.Load(), "six exchanges on one kept-alive connection")
	require.Equal(t, "example.test", u.last.Load().Host)
}

func TestExchangeDropsHopByHopHeadersOfTheAnswer(t *testing.T) {
	u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Private, keep-alive\r\n"+
			"X-Private: secret\r\nKeep-Alive: timeout=5\r\nX-Public: yes\r\nUpgrade: h2c\r\n\r\nok")
		return true
	})
	g := leanGroup(t, u.addr)
	a, err := g.Exchange(context.Background(), get("/"), nil, 0, true)
	require.NoError(t, err)
	defer a.Close()
	var names []string
	a.Header(func(name, value []byte) { names = append(names, string(name)+"="+string(value)) })
	require.Equal(t, []string{"Content-Length=2", "X-Public=yes"}, names)
}

func TestExchangeAnswerEndingWithTheConnectionIsNotReused(t *testing.T) {
	u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\n\r\nuntil close")
		return false
	})
	g := leanGroup(t, u.addr)
	for range 2 {
		a, body, err := exchangeAll(t, g, get("/"), nil, 0)
		require.NoError(t, err)
		require.EqualValues(t, -1, a.ContentLength)
		require.Equal(t, "until close", body)
	}
	require.EqualValues(t, 2, u.conns.Load())
}

func TestExchangeRefusesGarbageAndConflictingFraming(t *testing.T) {
	for name, answer := range map[string]string{
		"not http":            "SSH-2.0-OpenSSH\r\n\r\n",
		"bad status":          "HTTP/1.1 2x0 OK\r\n\r\n",
		"length and chunked":  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two lengths":         "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"negative length":     "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"header without name": "HTTP/1.1 200 OK\r\n: x\r\n\r\n",
		"space in name":       "HTTP/1.1 200 OK\r\nX Y: z\r\n\r\n",
		"gzip framing":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
				_, _ = io.WriteString(w, answer)
				return false
			})
			g := leanGroup(t, u.addr)
			_, err := g.Exchange(context.Background(), get("/"), nil, 0, true)
			require.ErrorIs(t, err, ErrBadAnswer)
		})
	}
}

func TestExchangeSendsBodiesWithTheirFraming(t *testing.T) {
	u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 204 No Content\r\n\r\n")
		return true
	})
	g := leanGroup(t, u.addr)
	head := []byte("POST /p HTTP/1.1\r\nHost: h\r\n")
	_, _, err := exchangeAll(t, g, head, strings.NewReader("hello"), 5)
	require.NoError(t, err)
	require.Equal(t, "hello", *u.body.Load())
	require.EqualValues(t, 5, u.last.Load().ContentLength)

	_, _, err = exchangeAll(t, g, head, strings.NewReader("streamed body"), -1)
	require.NoError(t, err)
	require.Equal(t, "streamed body", *u.body.Load())
	require.Equal(t, []string{"chunked"}, u.last.Load().TransferEncoding)
	require.EqualValues(t, 1, u.conns.Load(), "a 204 carries no body: the connection is reused")
}

func TestExchangeSkipsInterimAnswers(t *testing.T) {
	u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	a, body, err := exchangeAll(t, leanGroup(t, u.addr), get("/"), nil, 0)
	require.NoError(t, err)
	require.Equal(t, 200, a.Status)
	require.Equal(t, "ok", body)
}

// A kept-alive connection the upstream closed while idle costs the request nothing: it goes
// again on a new connection.
func TestExchangeRedialsAStaleConnection(t *testing.T) {
	u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false // closes after answering, without saying so
	})
	g := leanGroup(t, u.addr)
	for range 3 {
		_, body, err := exchangeAll(t, g, get("/"), nil, 0)
		require.NoError(t, err)
		require.Equal(t, "ok", body)
		time.Sleep(10 * time.Millisecond) // the close reaches this side
	}
	require.EqualValues(t, 3, u.conns.Load())
}

func TestExchangeEndsAtTheContextDeadline(t *testing.T) {
	u := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		time.Sleep(2 * time.Second)
		return false
	})
	g := leanGroup(t, u.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := g.Exchange(ctx, get("/"), nil, 0, false)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), time.Second)

	// A body cut by the deadline reads as the deadline too.
	u2 := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		time.Sleep(2 * time.Second)
		return false
	})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	a, err := leanGroup(t, u2.addr).Exchange(ctx2, get("/"), nil, 0, false)
	require.NoError(t, err)
	defer a.Close()
	_, err = io.ReadAll(a)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
}

func TestExchangeRetriesAnotherAddressAndCountsInFlight(t *testing.T) {
	bad := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
		return true
	})
	good := newRawUpstream(t, func(w io.Writer, r *http.Request) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
		return true
	})
	g, _ := newGroup(t, Config{Name: "r", Addrs: []string{bad.addr, good.addr}, Retries: 1, Balance: BalanceRoundRobin})
	for range 4 {
		a, body, err := exchangeAll(t, g, get("/"), nil, 0)
		require.NoError(t, err)
		require.Equal(t, 200, a.Status)
		require.Equal(t, "good", body)
	}
	for _, s := range g.Status() {
		require.Zero(t, s.InFlight, s.Addr)
	}
	// Not idempotent: no second attempt, the 503 is the answer.
	seen := map[int]bool{}
	for range 2 {
		a, err := g.Exchange(context.Background(), get("/"), nil, 0, false)
		require.NoError(t, err)
		seen[a.Status] = true
		a.Close()
	}
	require.True(t, seen[503])
}

func TestExchangeWithNoAddressUp(t *testing.T) {
	g := leanGroup(t, closedAddr(t))
	_, err := g.Exchange(context.Background(), get("/"), nil, 0, true)
	require.Error(t, err)
	require.Zero(t, g.Status()[0].InFlight)
}

func TestLeanOnlyForPlainHTTP(t *testing.T) {
	g, _ := newGroup(t, Config{Name: "mixed", Addrs: []string{"http://127.0.0.1:1", "h2c://127.0.0.1:2"}})
	require.False(t, g.Lean())
	g, _ = newGroup(t, Config{Name: "tls", Addrs: []string{"https://127.0.0.1:1"}})
	require.False(t, g.Lean())
}
