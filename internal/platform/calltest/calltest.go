// Package calltest is what the test wrappers of component clients share: a count of the calls
// by method, and methods made to hang like an upstream that stopped answering.
package calltest

import "sync"

// Recorder counts calls and holds the hanging ones. The zero value is not ready: use New.
type Recorder struct {
	mu      sync.Mutex
	calls   map[string]int
	hang    map[string]bool
	release chan struct{}
}

// New returns an empty count.
func New() *Recorder {
	return &Recorder{calls: map[string]int{}, hang: map[string]bool{}, release: make(chan struct{})}
}

// Hang makes later calls of method block in Enter until Release, whatever their context says.
func (c *Recorder) Hang(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hang[method] = true
}

// Release lets every hanging call return; later calls no longer hang.
func (c *Recorder) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.hang) > 0 {
		close(c.release)
		c.release = make(chan struct{})
		c.hang = map[string]bool{}
	}
}

// Calls returns the calls so far by method name.
func (c *Recorder) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

// Enter counts a call of method, and blocks while method is made to hang.
func (c *Recorder) Enter(method string) {
	c.mu.Lock()
	c.calls[method]++
	hang, release := c.hang[method], c.release
	c.mu.Unlock()
	if hang {
		<-release
	}
}
