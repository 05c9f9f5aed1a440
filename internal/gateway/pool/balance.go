package pool

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// maxStackAddrs is how many candidates pick gathers without allocating.
const maxStackAddrs = 16

// pick chooses the address for the next attempt by the balance policy. Candidates are the
// addresses up by health checks and not ejected, or, when those are fewer than half of the
// group, every address up by health checks (the panic rule of the package doc). Addresses in
// tried are left out as long as another candidate remains.
func (g *Group) pick(tried []*upstream) (*upstream, error) {
	now := time.Now().UnixNano()
	var buf [maxStackAddrs]*upstream
	c := g.candidates(buf[:0], now, false)
	if 2*len(c) < len(g.addrs) {
		c = g.candidates(c[:0], now, true)
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("group %q: %w", g.cfg.Name, ErrNoUpstream)
	}
	if len(tried) > 0 {
		fresh := slices.DeleteFunc(slices.Clone(c), func(u *upstream) bool { return slices.Contains(tried, u) })
		if len(fresh) > 0 {
			c = fresh
		}
	}
	if len(c) == 1 {
		return c[0], nil
	}
	i := int((g.rr.Add(1) - 1) % uint64(len(c)))
	if g.cfg.Balance == BalanceRoundRobin {
		return c[i], nil
	}
	// Power of two choices: the round-robin one against a random other, fewer in flight wins
	// and a tie goes to the round-robin one.
	j := (i + 1 + rand.IntN(len(c)-1)) % len(c)
	if c[j].inFlight.Load() < c[i].inFlight.Load() {
		return c[j], nil
	}
	return c[i], nil
}

// candidates appends to dst the addresses up by health checks and, unless ignoreEjection,
// not ejected at now.
func (g *Group) candidates(dst []*upstream, now int64, ignoreEjection bool) []*upstream {
	for _, u := range g.addrs {
		if u.healthy.Load() && (ignoreEjection || !u.ejected(now)) {
			dst = append(dst, u)
		}
	}
	return dst
}
