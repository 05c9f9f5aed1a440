package bench

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The lean client reads what servers send: a length, a chunked body with trailers, a
// close, and refuses what is not HTTP.
func TestProxyReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		status       int
		keep, broken bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: x\r\n\r\nhello", 200, true, false},
		{"lower case, close", "HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}", 401, false, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nTrailer: t\r\n\r\n", 200, true, false},
		{"no length", "HTTP/1.1 502 Bad Gateway\r\n\r\nbody to the end", 502, false, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, false, false},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", 0, false, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 200, false, true},
		{"cut body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 200, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if !tc.broken {
				in += "HTTP/1.1 204 No Content\r\n\r\n"
			}
			r := bufio.NewReader(strings.NewReader(in))
			status, keep, err := readAnswer(r)
			require.Equal(t, tc.status, status)
			if tc.broken {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.keep, keep)
			if keep { // the answer was consumed exactly: the next one follows
				status, _, err := readAnswer(r)
				require.NoError(t, err)
				require.Equal(t, 204, status)
			}
		})
	}
}

// A closed loop counts 200s as requests and everything else as errors, over keep-alive
// connections it reopens when the server closes them; an open loop keeps to its rate.
func TestProxyLoadCountsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch i := n.Add(1); {
		case i%10 == 0:
			w.WriteHeader(http.StatusTooManyRequests)
		case i%7 == 0:
			w.Header().Set("Connection", "close")
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	conns := []*rawConn{newRawConn(addr, proxyRequest("/x", "tok")), newRawConn(addr, proxyRequest("/x", "tok"))}
	defer closeAll(conns)

	lr := &loadResult{hist: NewHist(2)}
	runLoad(context.Background(), conns, time.Now().Add(300*time.Millisecond), 0, lr)
	total := n.Load()
	require.Greater(t, total, int64(20))
	require.Equal(t, total, lr.ok.Load()+lr.errs.Load(), "every answer is counted once")
	require.Equal(t, total/10, lr.errs.Load(), "every 429 is an error, nothing else is")
	require.Contains(t, lr.firstErr.Load(), "HTTP 429")
	require.Equal(t, uint64(lr.ok.Load()), lr.hist.Snapshot().Total)

	n.Store(0)
	lr = &loadResult{hist: NewHist(2)}
	runLoad(context.Background(), conns, time.Now().Add(time.Second), 100, lr)
	require.InDelta(t, 100, float64(n.Load()), 15, "open loop at 100/s for 1s")
}

// A request of the lean client allocates nothing once its connection is open (what the
// package comment promises; the fake server here allocates nothing per request either).
func TestProxyRequestAllocatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		var have []byte
		for {
			n, err := c.Read(buf[len(have):])
			if err != nil {
				return
			}
			have = buf[:len(have)+n]
			for {
				i := bytes.Index(have, []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				if _, err := c.Write(answer); err != nil {
					return
				}
				have = have[:copy(buf, have[i+4:])]
			}
		}
	}()
	rc := newRawConn(ln.Addr().String(), proxyRequest("/bench/ping", "token"))
	defer rc.close()
	rc.bound(time.Now().Add(time.Minute))
	status, err := rc.do()
	require.NoError(t, err)
	require.Equal(t, 200, status)
	allocs := testing.AllocsPerRun(200, func() {
		if status, err := rc.do(); err != nil || status != 200 {
			t.Fatalf("status %d, err %v", status, err)
		}
	})
	require.Zero(t, allocs)
}
