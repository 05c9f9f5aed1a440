package gateway

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/zhibo-live/zhibo/internal/gateway/table"
)

// Scopes of a limit rule: whose requests share one bucket.
const (
	ScopeRoute = "route" // every caller of the route together
	ScopeUser  = "user"  // each signed-in user; an anonymous caller by its client IP
	ScopeIP    = "ip"    // each client IP
)

// LimitRule is one per-route rate limit: requests matching Match, counted per Scope, may come
// at Rate per second with bursts of Burst; past it they are answered 429.
type LimitRule struct {
	// Name identifies the rule in metrics (label rule) and in the 429 envelope: lower case
	// letters, digits, '_' and '-', unique. A rule keeps its buckets across a reload while its
	// name, match and scope stay the same.
	Name string `yaml:"name" json:"name"`
	// Match is a net/http ServeMux pattern: "[METHOD ][HOST]/PATH", e.g.
	// "POST /api/rooms/{id}/gifts"; "GET" matches HEAD too; a pattern ending in "/" matches the
	// whole subtree.
	Match string `yaml:"match" json:"match"`
	// Scope is route, user or ip.
	Scope string `yaml:"scope" json:"scope"`
	// Rate is the sustained requests per second allowed (> 0).
	Rate float64 `yaml:"rate" json:"rate"`
	// Burst is how many requests may come at once (>= 1).
	Burst int `yaml:"burst" json:"burst"`
	// Shared counts the rule in Redis (redis.addr) for every gateway replica together instead
	// of in each process; while Redis cannot answer within shared_limit_timeout, each process
	// falls back to counting the rule alone.
	Shared bool `yaml:"shared,omitempty" json:"shared,omitempty"`
}

var ruleName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// validateRules checks a list of rules as a whole.
func validateRules(rules []LimitRule) error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range rules {
		if !ruleName.MatchString(r.Name) {
			errs = append(errs, fmt.Errorf("gateway.limits[%d]: name %q: want 1-64 of a-z 0-9 _ -", i, r.Name))
		} else if seen[r.Name] {
			errs = append(errs, fmt.Errorf("gateway.limits[%d]: name %q used twice", i, r.Name))
		}
		seen[r.Name] = true
		if _, err := table.NewPattern(r.Match); err != nil {
			errs = append(errs, fmt.Errorf("gateway.limits %q: match: %w", r.Name, err))
		}
		switch r.Scope {
		case ScopeRoute, ScopeUser, ScopeIP:
		default:
			errs = append(errs, fmt.Errorf("gateway.limits %q: scope %q: want route, user or ip", r.Name, r.Scope))
		}
		if !(r.Rate > 0) || r.Rate > 1e9 || r.Burst < 1 {
			errs = append(errs, fmt.Errorf("gateway.limits %q: want rate > 0 and burst >= 1", r.Name))
		}
	}
	return errors.Join(errs...)
}

// jsonListFlag sets a list of structs from a JSON list given on the command line or in the
// environment; the YAML file gives the same list as YAML.
