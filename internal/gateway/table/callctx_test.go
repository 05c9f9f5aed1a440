package table

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A call's context ends as a context.WithTimeout does — at its deadline, at its parent's end,
// or when canceled — whether Done was asked for before or not, and carries the call.
func TestCallContextEndsAsATimeoutDoes(t *testing.T) {
	cl := &call{}
	// Done asked first: the deadline closes it.
	ctx := withCall(context.Background(), cl, 30*time.Millisecond)
	defer ctx.Cancel()
	if callOf(ctx) != cl {
		t.Fatal("the call is not in its context")
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the deadline did not close Done")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v", ctx.Err())
	}

	// Done never asked: Err sees the deadline, and Done is closed when asked after.
	ctx = withCall(context.Background(), cl, 10*time.Millisecond)
	defer ctx.Cancel()
	if ctx.Err() != nil {
		t.Fatal("ended before its deadline")
	}
	time.Sleep(20 * time.Millisecond)
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v after the deadline", ctx.Err())
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done open after Err reported the end")
	}

	// The parent's end, and an earlier parent deadline.
	parent, pcancel := context.WithCancel(context.Background())
	ctx = withCall(parent, cl, time.Hour)
	defer ctx.Cancel()
	done := ctx.Done()
	pcancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the parent's cancel did not end it")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err %v", ctx.Err())
	}
	short, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	ctx = withCall(short, cl, time.Hour)
	if d, _ := ctx.Deadline(); time.Until(d) > time.Minute {
		t.Fatalf("deadline %v: not the parent's earlier one", d)
	}

	// Canceled: ended, and a child of it too.
	child, ccancel := context.WithCancel(ctx)
	defer ccancel()
	ctx.Cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err %v after cancel", ctx.Err())
	}
	select {
	case <-child.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a child did not end with it")
	}
}
