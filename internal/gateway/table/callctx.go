package table

import (
	"context"
	"sync"
	"time"
)

// callCtx is a route call's context: the call (callOf) and the route's deadline on the
// request's context. Its timer starts only once something waits on Done — the lean client's
// exchange does; the gateway's event loop, which keeps deadlines of its own, reads Deadline
// and never does, so a request it serves costs no timer.
type callCtx struct {
	context.Context // the request's
	cl              *call
	deadline        time.Time

	mu    sync.Mutex
	done  chan struct{}
	err   error
	timer *time.Timer
	stop  func() bool // the parent's hold (context.AfterFunc)

	own call // the route's call, allocated with its context (cl points to it)
}

// withCall returns the context of the call cl on parent, ending timeout from now at the latest.
func withCall(parent context.Context, cl *call, timeout time.Duration) *callCtx {
	c := &callCtx{}
	c.init(parent, cl, timeout)
	return c
}

func (c *callCtx) init(parent context.Context, cl *call, timeout time.Duration) {
	c.Context, c.cl, c.deadline = parent, cl, time.Now().Add(timeout)
	if d, ok := parent.Deadline(); ok && d.Before(c.deadline) {
		c.deadline = d
	}
}

// Cancel ends the context (context.Canceled), as a CancelFunc would.
func (c *callCtx) Cancel() { c.cancel(context.Canceled) }

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *callCtx) Value(k any) any {
	if _, ok := k.(callKey); ok {
		return c.cl
	}
	return c.Context.Value(k)
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	if c.Context.Done() != nil {
		c.stop = context.AfterFunc(c.Context, func() { c.cancel(c.Context.Err()) })
	}
	return c.done
}

// Err is nil until the context ends; a deadline passed or a parent ended is seen at once,
// and ends the context (Done closes) before Err reports it.
func (c *callCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if perr := c.Context.Err(); perr != nil {
		c.cancel(perr)
	} else if !time.Now().Before(c.deadline) {
		c.cancel(context.DeadlineExceeded)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stop != nil {
		c.stop()
	}
}
