package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// Component is one role a zhibo process can run, declared once: what it calls, what it owns,
// how it is built and what it serves. Adding a component is one entry in Components.
type Component struct {
	Name  string
	About string
	// Uses are the components it calls. Each runs in the same process or, when peers names
	// it, in another process reached over gRPC through the same Go interface.
	Uses []string
	// Optional are the uses it runs without (it degrades as About says).
	Optional []string
	// Store: it owns tables, kept in its own store section over the shared one
	// (config.StoreOf), and migrates only those.
	Store bool
	// schema is its tables' migrations (set exactly when Store is): run at start, and by
	// zhibo migrate for operators who migrate before rolling out.
	schema func() []sqlstore.Migration
	// Queue: it publishes to or consumes from the durable queue.
	Queue bool
	// Key: it signs or checks tokens with the cluster's signing key.
	Key bool

	// build constructs the component from the app's resources and its peers (local or
	// remote); nothing starts here. It returns what the app starts and stops.
	build func(a *App) (lifecycle, error)
	// serve registers its gRPC services for the other processes (nil = none).
	serve func(a *App, s *grpcx.Server)
	// routes are its HTTP routes (nil = none).
	routes func(a *App) []gateway.Routes
	// openAPI describes its HTTP routes; a gateway forwarding to the component's process
	// forwards exactly these.
	openAPI func() [][]byte
	// streams are the path prefixes of its long-lived responses (nil = none): the gateway
	// serving or forwarding them bounds each write instead of the whole response.
	streams func() []string
	// dial makes the client of this component in another process, at the peers target.
	dial func(a *App) error
	// remote is the peers target naming this component in another process ("" = none).
	remote func(p config.Peers) string
}

// Components lists every role in start order: a component starts after the peers it uses
// and stops before them.
func Components() []Component { return registry }

// registry is filled in build.go, beside the code that builds each component.
var registry []Component

// component returns the named component.
func component(name string) (Component, bool) {
	i := slices.IndexFunc(registry, func(c Component) bool { return c.Name == name })
	if i < 0 {
		return Component{}, false
	}
	return registry[i], true
}

// AllNames is every component, in start order.
func AllNames() []string {
	var out []string
	for _, c := range registry {
		out = append(out, c.Name)
	}
	return out
}

// remoteTarget is where peers says component n runs when not here ("" = nowhere else).
func remoteTarget(n string, p config.Peers) string {
	if c, ok := component(n); ok && c.remote != nil {
		return c.remote(p)
	}
	return ""
}

// peerFlag is the flag that names component n's process, for error messages.
func peerFlag(n string) string {
	if n == "comet" {
		return "-peers.comets host:port,…"
	}
	return "-peers." + strings.ReplaceAll(n, "-", "_") + " host:port" // im-chat → -peers.im_chat
}

// Resolve validates a --components list and returns it in start order, with the gateway (every
// process's HTTP entry) added. A component that uses a peer that is neither here nor named in
// peers fails clearly instead of starting half-wired.
func Resolve(list []string, peers config.Peers) ([]string, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("no components given (want any of %s)", strings.Join(AllNames(), ", "))
	}
	for _, n := range list {
		if _, ok := component(n); !ok {
			return nil, fmt.Errorf("unknown component %q (want any of %s)", n, strings.Join(AllNames(), ", "))
		}
	}
	var out []string
	for _, c := range registry {
		if !slices.Contains(list, c.Name) && c.Name != "gateway" {
			continue
		}
		for _, use := range c.Uses {
			if slices.Contains(c.Optional, use) || slices.Contains(list, use) || remoteTarget(use, peers) != "" {
				continue
			}
			return nil, fmt.Errorf("component %s needs %s: run it in this process or name the remote one with %s",
				c.Name, use, peerFlag(use))
		}
		out = append(out, c.Name)
	}
	return out, nil
}
