//go:build !linux

package comet

// poller has no implementation outside Linux: newPoller says so and every
// connection keeps a reader goroutine.
type poller struct{}

func newPoller(*Service) (*poller, error) { return nil, errPollerUnsupported }

func (p *poller) park(*conn) bool { return false }
func (p *poller) detach(*conn)    {}
func (p *poller) run()            {}
func (p *poller) stop()           {}
func (p *poller) close()          {}
