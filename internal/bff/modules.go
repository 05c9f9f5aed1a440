package bff

import (
	"context"
	"fmt"
	"time"
)

// Modules of the room page: the values of the module label.
const (
	modDanmuInfo = "danmu_info"
	modComments  = "comments"
	modGifts     = "gifts"
	modWallet    = "wallet"
	modRank      = "rank"
	modViewer    = "viewer"
	modAnchor    = "anchor" // the anchor's follow counts and whether the viewer follows them
	// modRoom is the room read itself, in zhibo_bff_hot_served_total.
	modRoom = "room"
)

// Modules of the inbox (inbox.go).
const (
	modChats    = "chats"    // im-chat: the first page of the conversation list
	modUnread   = "unread"   // im-chat: the unread total
	modGroups   = "groups"   // im-group: the first page of the group list
	modNotices  = "notices"  // im-notice: unread notices by kind
	modSettings = "settings" // im-chat: who may message the user
)

var modules = []string{modDanmuInfo, modComments, modGifts, modWallet, modRank, modViewer, modAnchor,
	modChats, modUnread, modGroups, modNotices, modSettings}

// Degraded is what a module that failed or did not answer in time is sent as.
type Degraded struct {
	Degraded bool `json:"degraded"`
}

// Off is what a module switched off by an operator is sent as.
type Off struct {
	Off bool `json:"off"`
}

// module is one part of a page fetched from a component.
type module struct {
	name string
	run  func(ctx context.Context) (any, error)
}

type result struct {
	v   any
	err error
}

// fetch runs the modules of the room page concurrently within bff.module_timeout (fetchWithin).
func (s *Service) fetch(ctx context.Context, mods []module) map[string]any {
	return s.fetchWithin(ctx, s.cfg.ModuleTimeout, mods)
}

// fetchWithin runs the modules concurrently, each with a context that ends timeout from now,
// and returns their values by name. It waits no longer than that timeout even for a module
// whose component ignores its context: such a module is sent as degraded and its late answer
// is dropped.
func (s *Service) fetchWithin(ctx context.Context, timeout time.Duration, mods []module) map[string]any {
	out := make(map[string]any, len(mods))
	if len(mods) == 0 {
		return out
	}
	deadline := time.Now().Add(timeout)
	results := make([]chan result, len(mods))
	for i, m := range mods {
		results[i] = make(chan result, 1) // a late module's send never blocks
		s.calls.add()
		go func() {
			defer s.calls.done()
			mctx, cancel := context.WithDeadline(ctx, deadline)
			defer cancel()
			start := time.Now()
			defer func() {
				if p := recover(); p != nil {
					results[i] <- result{err: fmt.Errorf("module %s panicked: %v", m.name, p)}
				}
			}()
			v, err := m.run(mctx)
			s.m.seconds.WithLabelValues(m.name).Observe(time.Since(start).Seconds())
			results[i] <- result{v: v, err: err}
		}()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	expired := false // the timeout passed: take what has answered, degrade the rest
	for i, m := range mods {
		var r result
		if expired {
			select {
			case r = <-results[i]:
			default:
				r.err = context.DeadlineExceeded
			}
		} else {
			select {
			case r = <-results[i]:
			case <-timer.C:
				expired = true
				select {
				case r = <-results[i]:
				default:
					r.err = context.DeadlineExceeded
				}
			case <-ctx.Done():
				return out // the client went away: nobody reads the page, no module is counted degraded
			}
		}
		if r.err != nil {
			s.m.degraded.WithLabelValues(m.name).Inc()
			s.log.WarnContext(ctx, "page module degraded", "module", m.name, "err", r.err)
			out[m.name] = Degraded{Degraded: true}
			continue
		}
		out[m.name] = r.v
	}
	return out
}

// skip counts a module answered without its component.
func (s *Service) skip(module, reason string) { s.m.skipped.WithLabelValues(module, reason).Inc() }
