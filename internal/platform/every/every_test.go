package every

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunCallsOnItsPeriodUntilStopped(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	var n atomic.Int64
	go func() { Run(stop, 10*time.Millisecond, func() { n.Add(1) }); close(done) }()
	require.Eventually(t, func() bool { return n.Load() >= 3 }, 5*time.Second, time.Millisecond)
	close(stop)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after stop")
	}
	after := n.Load()
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, after, n.Load(), "no call after Run returned")
}

func TestRunWaitsOnePeriodBeforeTheFirstCall(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	var n atomic.Int64
	go Run(stop, time.Hour, func() { n.Add(1) })
	time.Sleep(50 * time.Millisecond)
	require.Zero(t, n.Load())
}
