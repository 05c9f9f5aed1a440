package aggregate

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// runLoop is the background loop every mode shares: flush once per window, and early when
// woken (MaxPending reached), until stop is closed; then close done. A failed flush keeps its
// deltas and is logged; the next window retries it.
func runLoop(ctx context.Context, window time.Duration, stop, done chan struct{}, wake <-chan struct{},
	flush func(ctx context.Context, early bool) error, log *slog.Logger, what string) {
	defer close(done)
	t := time.NewTicker(window)
	defer t.Stop()
	for {
		early := false
		select {
		case <-stop:
			return
		case <-t.C:
		case <-wake:
			early = true
		}
		if err := flush(ctx, early); err != nil {
			log.Warn(what+" flush failed, retrying next window", "err", err)
		}
	}
}

// poke wakes a loop without blocking (a wake already pending is enough).
func poke(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// await waits for each channel to close, or for ctx to end first.
func await(ctx context.Context, chans ...<-chan struct{}) error {
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return fmt.Errorf("aggregate: stop: %w", ctx.Err())
		}
	}
	return nil
}
