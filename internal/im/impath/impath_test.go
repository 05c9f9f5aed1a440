package impath

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
)

var (
	errBad    = apierr.New(400, -1, "bad")
	errBanned = apierr.New(400, -2, "banned")
)

func TestCheckText(t *testing.T) {
	words := textnorm.NewWords([]string{"spam"})
	got, err := CheckText("  hi\nthere\t! ", 20, words, errBad, errBanned)
	require.NoError(t, err)
	require.Equal(t, "hi\nthere\t!", got)
	for text, want := range map[string]string{
		"":              "must not be empty",
		" \u200b ":      "must not be empty", // only an invisible character
		"a\xffb":        "valid UTF-8",
		"a\u0007b":      "U+0007",
		"a\ufffdb":      "U+FFFD",
		"0123456789abc": "at most 12",
	} {
		_, err := CheckText(text, 12, words, errBad, errBanned)
		require.ErrorIs(t, err, errBad, text)
		require.ErrorContains(t, err, want, text)
	}
	_, err = CheckText("buy ＳＰＡＭ now", 20, words, errBad, errBanned)
	require.ErrorIs(t, err, errBanned)
}

func openQueue(t *testing.T) *queue.Queue {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "t"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	require.NoError(t, q.EnsureStream(context.Background(), queue.StreamSpec{Name: q.Stream("T"), Subjects: []string{q.Subject("t.>")}}))
	return q
}

// A repeat of a dedupe id within the window stores nothing and gets the first value back.
func TestEnqueueOncePerID(t *testing.T) {
	q := openQueue(t)
	ctx := context.Background()
	type v struct{ N int }
	first, replay, err := Enqueue(ctx, q, q.Stream("T"), q.Subject("t.a"), v{1}, "id-1")
	require.NoError(t, err)
	require.False(t, replay)
	require.Equal(t, v{1}, first)
	first, replay, err = Enqueue(ctx, q, q.Stream("T"), q.Subject("t.a"), v{2}, "id-1")
	require.NoError(t, err)
	require.True(t, replay)
	require.Equal(t, v{1}, first, "the first value, not the repeat's")
	_, replay, err = Enqueue(ctx, q, q.Stream("T"), q.Subject("t.a"), v{3}, "")
	require.NoError(t, err)
	require.False(t, replay)
}

// The writer acknowledges a batch only once it applied; a failed batch comes back and an
// unreadable message is dropped, not retried for ever.
func TestWriterAcksOnlyWhatItApplied(t *testing.T) {
	q := openQueue(t)
	ctx := context.Background()
	var (
		mu      sync.Mutex
		applied = map[int]int{}
		fail    = true
	)
	w := NewWriter("test", obs.Discard(), 8, Linger, 5*time.Second, func(b []byte) (int, error) {
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return 0, errors.New("not a number")
		}
		return n, nil
	}, func(_ context.Context, batch []int) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return errors.New("store down")
		}
		for _, n := range batch {
			applied[n]++
		}
		return nil
	}, nil)
	done := make(chan struct{})
	go func() { defer close(done); w.Run() }()
	stop, err := q.Consume(ctx, queue.ConsumerSpec{Stream: q.Stream("T"), Durable: "w", AckWait: time.Minute}, w.Add)
	require.NoError(t, err)
	for i := range 20 {
		require.NoError(t, q.Publish(ctx, q.Subject("t.x"), []byte(strconv.Itoa(i)), ""))
	}
	require.NoError(t, q.Publish(ctx, q.Subject("t.x"), []byte("garbage"), ""))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(applied) == 20
	}, 10*time.Second, 10*time.Millisecond)
	stop()
	w.Close()
	<-done
	for i := range 20 {
		require.Equal(t, 1, applied[i], "message %d applied once", i)
	}
}
