package hotlist

import "sync"

// Background runs jobs in the background, one at a time per key and at most a bound at once:
// the builds of the hot tier a read that misses starts, which must neither pile up for one key
// nor take every connection to the store.
type Background struct {
	mu      sync.Mutex
	running map[int64]bool
	slots   chan struct{}
	wg      sync.WaitGroup
}

// NewBackground returns a Background of at most n jobs at once.
func NewBackground(n int) *Background {
	return &Background{running: map[int64]bool{}, slots: make(chan struct{}, n)}
}

// Start runs fn for key in the background unless a job of key runs or too many do (false).
func (b *Background) Start(key int64, fn func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[key] {
		return false
	}
	select {
	case b.slots <- struct{}{}:
	default:
		return false
	}
	b.running[key] = true
	b.wg.Go(func() {
		fn()
		b.mu.Lock()
		delete(b.running, key)
		b.mu.Unlock()
		<-b.slots
	})
	return true
}

// Wait waits for the jobs started.
func (b *Background) Wait() { b.wg.Wait() }
