package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load of `zhibo bench proxy` comes from a lean HTTP/1.1 client on raw TCP instead of
// net/http's: every request is the same prebuilt bytes, the answer's status line and headers
// are parsed in the read buffer and the body is skipped, so a request allocates nothing. On
// two cores the generator shares the machine with the upstream and the proxy under test, and
// net/http's client (a goroutine pair, a Request, a Response, header maps per request) would
// take the larger share of the cores and decide the numbers instead of the proxies.

// proxyRequest is the request every phase sends, to every target: the same bytes on the wire.
func proxyRequest(path, token string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: zhibo-bench-proxy\r\nAccept: */*\r\n", path)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// rawConn is one keep-alive connection that sends req and reads each answer.
type rawConn struct {
	addr string
	req  []byte
	c    net.Conn
	r    *bufio.Reader
	// deadline bounds the connection as a whole during a phase (one timer for the phase
	// instead of one per request); zero = each request gets 10 s.
	deadline time.Time
}

// bound sets the connection's deadline for a phase ending at end.
func (rc *rawConn) bound(end time.Time) {
	rc.deadline = end.Add(10 * time.Second)
	if rc.c != nil {
		_ = rc.c.SetDeadline(rc.deadline)
	}
}

func newRawConn(addr string, req []byte) *rawConn { return &rawConn{addr: addr, req: req} }

// do sends the request once and reads the whole answer; it dials first when not connected,
// and closes the connection on an I/O error or when the server asks to close.
func (rc *rawConn) do() (status int, err error) {
	if rc.c == nil {
		if err := rc.dial(); err != nil {
			return 0, err
		}
	}
	if rc.deadline.IsZero() {
		_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := rc.c.Write(rc.req); err != nil {
		rc.close()
		return 0, err
	}
	status, keep, err := readAnswer(rc.r)
	if err != nil || !keep {
		rc.close()
	}
	return status, err
}

// dial opens the connection.
func (rc *rawConn) dial() error {
	c, err := net.DialTimeout("tcp", rc.addr, 5*time.Second)
	if err != nil {
		return err
	}
	rc.c = c
	if !rc.deadline.IsZero() {
		_ = c.SetDeadline(rc.deadline)
	}
	if rc.r == nil {
		rc.r = bufio.NewReaderSize(c, 16<<10)
	} else {
		rc.r.Reset(c)
	}
	return nil
}

func (rc *rawConn) close() {
	if rc.c != nil {
		_ = rc.c.Close()
		rc.c = nil
	}
}

var (
	errBadAnswer = errors.New("malformed HTTP answer")
	hdrLength    = []byte("content-length:")
	hdrChunked   = []byte("transfer-encoding:")
	hdrConn      = []byte("connection:")
)

// readAnswer reads one HTTP/1.1 answer from r: its status, whether the connection stays open,
// and skips the body (Content-Length or chunked). It allocates nothing.
func readAnswer(r *bufio.Reader) (status int, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, errBadAnswer
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, false, errBadAnswer
		}
		status = status*10 + int(d-'0')
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		switch {
		case hasPrefixFold(h, hdrLength):
			n, ok := parseDecimal(bytes.TrimSpace(h[len(hdrLength):]))
			if !ok {
				return status, false, errBadAnswer
			}
			length = n
		case hasPrefixFold(h, hdrChunked):
			chunked = bytes.Contains(bytes.ToLower(h), []byte("chunked")) // short header: no allocation worth noting, and rare
		case hasPrefixFold(h, hdrConn):
			v := bytes.TrimSpace(h[len(hdrConn):])
			if len(v) == 5 && hasPrefixFold(v, []byte("close")) {
				keep = false
			}
		}
	}
	switch {
	case chunked:
		return status, keep, skipChunked(r)
	case length >= 0:
		_, err := r.Discard(length)
		return status, keep, err
	case status == 204 || status == 304:
		return status, keep, nil
	default: // the body runs to the end of the connection
		_, err := io.Copy(io.Discard, r)
		return status, false, err
	}
}

// skipChunked discards a chunked body and its trailers.
func skipChunked(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return errBadAnswer
		}
		if n == 0 {
			for { // trailers up to the empty line
				t, err := r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := r.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func hasPrefixFold(b, prefix []byte) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i, c := range prefix {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != c {
			return false
		}
	}
	return true
}

func parseDecimal(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	return n, true
}

// loadResult is what one phase's connections did.
type loadResult struct {
	ok, errs atomic.Int64
	behind   atomic.Int64 // open loop: sends later than their slot because the last answer was late
	hist     *Hist
	firstErr atomic.Value // string
}

func (lr *loadResult) fail(msg string) {
	if lr.errs.Add(1) == 1 {
		lr.firstErr.Store(msg)
	}
}

// runLoad drives conns connections at addr until end. rate 0 is a closed loop: each
// connection sends its next request as soon as the answer is in. rate > 0 is an open loop at
// rate requests/s in total: each connection has its own fixed schedule of slots, offset so
// the sends are spread; a request's latency is counted from its actual send. A send that
// finds its slot already past (the previous answer came late) goes at once and is counted
// as behind.
func runLoad(ctx context.Context, conns []*rawConn, end time.Time, rate float64, lr *loadResult) {
	var wg sync.WaitGroup
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(len(conns)) / rate * float64(time.Second))
	}
	start := time.Now()
	for i, rc := range conns {
		wg.Go(func() {
			rc.bound(end)
			next := start.Add(interval * time.Duration(i) / time.Duration(len(conns)))
			for ctx.Err() == nil {
				now := time.Now()
				if interval > 0 {
					if d := next.Sub(now); d > 0 {
						if next.After(end) {
							return
						}
						time.Sleep(d)
						now = time.Now()
					} else if -d > interval {
						lr.behind.Add(1)
					}
					next = next.Add(interval)
				}
				if !now.Before(end) {
					return
				}
				status, err := rc.do()
				d := time.Since(now)
				switch {
				case err != nil:
					lr.fail(fmt.Sprintf("%s: %v", rc.addr, err))
				case status != 200:
					lr.fail(fmt.Sprintf("%s: HTTP %d", rc.addr, status))
				default:
					lr.ok.Add(1)
					lr.hist.RecordN(i, d, 1)
				}
			}
		})
	}
	wg.Wait()
}
