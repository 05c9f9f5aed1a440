package app

import (
	"fmt"
	"slices"
	"strings"
)

// Component describes one role a zhibo process can run.
type Component struct {
	Name  string
	About string
	// Needs are the peers it calls. Until cluster mode wires remote peers, they must run in
	// the same process.
	Needs []string
}

// Components lists every role in start order: a component starts after the peers it needs
// and stops before them.
func Components() []Component {
	return []Component{
		{"account", "users, login, session tokens", nil},
		{"logic", "connection auth, online counts, pushes into the queue, danmu-info", []string{"account", "room"}},
		{"room", "rooms, live status, stream keys, tags, room list", []string{"account", "logic"}},
		{"gift", "gift catalog, wallets, idempotent gift orders, ranks, anchor scores", []string{"account", "room", "logic"}},
		{"danmaku", "bullet comments: validation, limits, mutes, history", []string{"account", "room", "logic"}},
		{"comet", "long connections (WebSocket /sub and raw TCP), rooms in buckets", []string{"logic"}},
		{"job", "consumes the push queue, merges per room, sends to comets", []string{"comet"}},
		{"gateway", "public HTTP entry: API routes, web UI, /sub, metrics, health", nil},
	}
}

// AllNames is every component, in start order.
func AllNames() []string {
	var out []string
	for _, c := range Components() {
		out = append(out, c.Name)
	}
	return out
}

// Resolve validates a --components list and returns it in start order. A component whose
// peer is not in the list fails clearly instead of starting half-wired.
func Resolve(list []string) ([]string, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("no components given (want any of %s)", strings.Join(AllNames(), ", "))
	}
	byName := map[string]Component{}
	for _, c := range Components() {
		byName[c.Name] = c
	}
	for _, n := range list {
		if _, ok := byName[n]; !ok {
			return nil, fmt.Errorf("unknown component %q (want any of %s)", n, strings.Join(AllNames(), ", "))
		}
	}
	var out []string
	for _, c := range Components() {
		if !slices.Contains(list, c.Name) {
			continue
		}
		for _, need := range c.Needs {
			if !slices.Contains(list, need) {
				return nil, fmt.Errorf("component %s needs %s, which is not in --components: "+
					"remote peers (cluster mode over gRPC) are not supported for it yet, run them in one process", c.Name, need)
			}
		}
		out = append(out, c.Name)
	}
	return out, nil
}
