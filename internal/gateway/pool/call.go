package pool

import (
	"time"
)

// Call is one request to the group made by an event loop (internal/gateway/loop), which does
// the I/O itself on connections of its own: the group picks each attempt's address, counts it
// in flight and by result (outlier ejection), and decides retries on other addresses under
// the same rules and budget as Exchange.
type Call struct {
	g         *Group
	retryable bool
	attempt   int
	u         *upstream
	tried     [4]*upstream
	n         int
	flying    bool
}

// NewCall starts a call; a request that is idempotent and has no body may be retried on
// another address.
func (g *Group) NewCall(idempotent, body bool) Call {
	c := Call{g: g, retryable: g.budget != nil && idempotent && !body}
	if g.budget != nil {
		g.budget.request(time.Now())
	}
	return c
}

// Begin picks the address of the call's first attempt and counts it in flight. host is what
// to dial (host:port).
func (c *Call) Begin() (host string, err error) {
	u, err := c.g.pick(nil)
	if err != nil {
		return "", err
	}
	c.start(u)
	return u.host, nil
}

func (c *Call) start(u *upstream) {
	c.u = u
	u.begin()
	c.flying = true
}

// Answered counts the attempt's answer by its status; it stays in flight until Done.
func (c *Call) Answered(status int) { c.g.endedLeft(c.u, status, nil, false) }

// Failed counts an attempt that got no answer, out of flight at once; left: the caller went
// away (not the address's failure).
func (c *Call) Failed(err error, left bool) {
	c.flying = false
	c.g.endedLeft(c.u, 0, err, left)
}

// Retry reports whether the call goes again after its attempt ended with status (answered)
// or err (Failed first), and if so picks another address and counts the new attempt in
// flight; the answer of the attempt before, then discarded, is Done.
func (c *Call) Retry(status int, err error, left bool) (host string, ok bool) {
	if !c.retryable || c.attempt >= c.g.cfg.Retries || left || !retryableResult(status, err) {
		return "", false
	}
	if c.n < len(c.tried) {
		c.tried[c.n] = c.u
		c.n++
	}
	next, perr := c.g.pick(c.tried[:c.n])
	if perr != nil {
		return "", false
	}
	if !c.g.budget.retry(time.Now()) {
		c.g.retries.exhausted.Inc()
		return "", false
	}
	c.g.retries.sent.Inc()
	c.attempt++
	c.Done()
	c.start(next)
	return next.host, true
}

// Done ends the answered attempt's time in flight (its body read, or given up).
func (c *Call) Done() {
	if c.flying {
		c.flying = false
		c.u.inFlight.Add(-1)
		c.u.m.inFlight.Dec()
	}
}

// Err wraps an attempt's error with the group and the address, as Exchange's are.
func (c *Call) Err(err error) error {
	if c.u == nil {
		return err
	}
	return wrapErr(c.g.cfg.Name, c.u, err)
}

// Async makes exchanges without blocking: the response writer of the gateway's event loop
// offers it to the handler that forwards. Exchange sends head — the request line and header
// lines, as Group.Exchange takes them, without framing or the blank line — and body to an
// address of g, and gives the answer to h on the event loop, once the handlers returned. head
// and body are copied before Exchange returns. The deadline bounds the whole exchange (zero:
// none); the group's retries apply as Exchange applies them.
type Async interface {
	Exchange(g *Group, head, body []byte, deadline time.Time, idempotent bool, h AnswerHandler)
}

// AnswerHandler takes an answer from an Async exchange, on the event loop.
type AnswerHandler interface {
	// Head is the answer's head; false ends the exchange there (End follows).
	Head(h *Head) bool
	// Body is the next piece of the body, valid during the call; false ends the exchange.
	Body(p []byte) bool
	// End is called once, last: err is nil when the answer is complete, otherwise the
	// exchange failed before its head (Head not called) or cut its body.
	End(err error)
}
