// Package every runs a task on a period until a stop channel closes: the background loops of
// the components (refreshes, retries, confirmations) without each writing its own ticker.
package every

import "time"

// Run calls fn every d until stop is closed; the first call is d after Run starts. A call
// in progress when stop closes finishes first.
func Run(stop <-chan struct{}, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		select { // stop wins over a tick that came at the same time
		case <-stop:
			return
		default:
		}
		fn()
	}
}
