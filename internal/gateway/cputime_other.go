//go:build !unix

package gateway

import "time"

// cpuTime is not read on this platform: adaptive shedding never sees the node as busy.
func cpuTime() (time.Duration, bool) { return 0, false }
