package comet

import (
	"hash/maphash"
	"net"
	"sync"
)

// ipLimit caps connections per client IP so one address cannot exhaust a comet. It is sharded
// like the buckets: a connect or close touches one shard's lock, never a global one.
type ipLimit struct {
	max    int // 0 = no limit
	seed   maphash.Seed
	shards [64]ipShard
}

type ipShard struct {
	mu sync.Mutex
	n  map[string]int
}

func newIPLimit(max int) *ipLimit {
	l := &ipLimit{max: max, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].n = map[string]int{}
	}
	return l
}

// hostOf is the IP of a "host:port" address (the whole string when it has no port).
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (l *ipLimit) shard(ip string) *ipShard {
	return &l.shards[maphash.String(l.seed, ip)%uint64(len(l.shards))]
}

// acquire counts a new connection from ip, or reports false when ip is at the limit.
func (l *ipLimit) acquire(ip string) bool {
	if l.max <= 0 {
		return true
	}
	sh := l.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[ip] >= l.max {
		return false
	}
	sh.n[ip]++
	return true
}

// release forgets a connection from ip.
func (l *ipLimit) release(ip string) {
	if l.max <= 0 {
		return
	}
	sh := l.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[ip] <= 1 {
		delete(sh.n, ip)
	} else {
		sh.n[ip]--
	}
}
