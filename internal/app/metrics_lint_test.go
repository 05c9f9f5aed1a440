package app

import (
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// Every metric a node exports follows the Prometheus naming conventions (counters end in
// _total, units in base units and in the name, help text present), as promlint checks them.
func TestMetricNamesFollowConventions(t *testing.T) {
	a, _ := startAll(t, filepath.Join(t.TempDir(), "data"), nil)
	problems, err := testutil.GatherAndLint(a.Reg)
	require.NoError(t, err)
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
