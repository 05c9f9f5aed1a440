package app

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every component shares one lifecycle shape, and Stop is safe to call twice: a second Stop
// (a supervisor's retry, a deferred cleanup after an explicit stop) returns at once without an
// error or a panic, and the app's own Stop after that is a no-op too.
func TestStopIsIdempotent(t *testing.T) {
	a, _ := startAll(t, filepath.Join(t.TempDir(), "data"), nil)
	ls := a.lifecycles()
	require.Len(t, ls, len(AllNames()), "every component of the all-in-one app")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(ls) - 1; i >= 0; i-- {
		name := fmt.Sprintf("%T", ls[i])
		require.NoError(t, ls[i].Stop(ctx), "first Stop of %s", name)
		require.NotPanics(t, func() { require.NoError(t, ls[i].Stop(ctx), "second Stop of %s", name) }, name)
	}
}
