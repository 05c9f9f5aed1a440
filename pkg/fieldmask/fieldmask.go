// Package fieldmask lets callers ask for the modules of a resource they need and nothing more,
// so a page that needs a room's title never pays for its statistics. A mask is parsed from a
// comma-separated list ("base,live") against the modules the resource offers.
package fieldmask

import (
	"fmt"
	"slices"
	"strings"
)

// Mask is a set of requested module names.
type Mask struct{ set map[string]struct{} }

// UnknownError names a module the resource does not offer.
type UnknownError struct {
	Module  string
	Allowed []string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown module %q (want any of %s)", e.Module, strings.Join(e.Allowed, ", "))
}

// Parse reads a comma-separated list. An empty list selects defaults; a name outside allowed
// is an *UnknownError. Whitespace around names is ignored; duplicates are harmless.
func Parse(list string, allowed, defaults []string) (Mask, error) {
	m := Mask{set: map[string]struct{}{}}
	if strings.TrimSpace(list) == "" {
		for _, d := range defaults {
			m.set[d] = struct{}{}
		}
		return m, nil
	}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allowed, p) {
			return Mask{}, &UnknownError{Module: p, Allowed: allowed}
		}
		m.set[p] = struct{}{}
	}
	return m, nil
}

// Of builds a mask from names without validation (for internal callers).
func Of(names ...string) Mask {
	m := Mask{set: make(map[string]struct{}, len(names))}
	for _, n := range names {
		m.set[n] = struct{}{}
	}
	return m
}

// Has reports whether module is requested.
func (m Mask) Has(module string) bool {
	_, ok := m.set[module]
	return ok
}

// Names lists the requested modules in sorted order.
func (m Mask) Names() []string {
	out := make([]string, 0, len(m.set))
	for n := range m.set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// String renders the mask as a comma-separated list.
func (m Mask) String() string { return strings.Join(m.Names(), ",") }
