package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zhibo-live/zhibo/internal/config"
)

// Component describes one role a zhibo process can run.
type Component struct {
	Name  string
	About string
	// Needs are peers that must run in the same process.
	Needs []string
	// Remote is a peer that runs here or in another process named in peers (empty = none).
	Remote string
}

// Components lists every role in start order: a component starts after the peers it needs
// and stops before them.
func Components() []Component {
	return []Component{
		{Name: "account", About: "users, login, session tokens"},
		{Name: "logic", About: "connection auth, online counts across comets, pushes"},
		{Name: "room", About: "rooms, live status, stream keys, tags, room list, danmu-info", Needs: []string{"account"}},
		{Name: "gift", About: "gift catalog, wallets, idempotent gift orders, ranks, anchor scores", Needs: []string{"account", "room"}},
		{Name: "danmaku", About: "bullet comments: validation, limits, mutes, history", Needs: []string{"account", "room"}},
		{Name: "comet", About: "long connections (WebSocket /sub and raw TCP), rooms in buckets", Remote: "logic"},
		{Name: "job", About: "consumes the push queue, merges per room, sends to comets", Remote: "comet"},
		{Name: "gateway", About: "HTTP entry of every process: API of local components, web UI, /sub, metrics, health"},
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

// remoteConfigured says whether peers name a remote instance of component n.
func remoteConfigured(n string, p config.Peers) bool {
	switch n {
	case "logic":
		return p.Logic != ""
	case "comet":
		return len(p.Comets) > 0
	}
	return false
}

// Resolve validates a --components list and returns it in start order, with the gateway (every
// process's HTTP entry) added. A component whose peer is neither here nor named in peers fails
// clearly instead of starting half-wired.
func Resolve(list []string, peers config.Peers) ([]string, error) {
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
		if !slices.Contains(list, c.Name) && c.Name != "gateway" {
			continue
		}
		for _, need := range c.Needs {
			if !slices.Contains(list, need) {
				return nil, fmt.Errorf("component %s needs %s in the same process: add it to --components", c.Name, need)
			}
		}
		if r := c.Remote; r != "" && !slices.Contains(list, r) && !remoteConfigured(r, peers) {
			flag := map[string]string{"logic": "-peers.logic host:port", "comet": "-peers.comets host:port,…"}[r]
			return nil, fmt.Errorf("component %s needs %s: run it in this process or name the remote one with %s", c.Name, r, flag)
		}
		out = append(out, c.Name)
	}
	return out, nil
}
