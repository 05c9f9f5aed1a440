// Package impath is the path every kind of private message takes, shared by the IM components:
// the text policy of a message, putting it on the durable queue once per client id (a replay
// gets the first message back), and the batch writer that applies queued messages to a store
// and acknowledges them only once they are applied.
package impath

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
)

// CheckText cleans text by the text policy (textnorm.Clean: NFKC, invisible and bidi controls
// removed), trims it and validates it: valid UTF-8, not empty, at most maxRunes, no control
// characters but newlines and tabs (bad, with a message saying what), no banned word (banned).
func CheckText(text string, maxRunes int, words textnorm.Words, bad, banned *apierr.Error) (string, error) {
	if !utf8.ValidString(text) {
		return "", bad.Withf("text must be valid UTF-8")
	}
	text = strings.TrimSpace(textnorm.Clean(text))
	n := utf8.RuneCountInString(text)
	if n == 0 {
		return "", bad.Withf("text must not be empty")
	}
	if n > maxRunes {
		return "", bad.Withf("text is %d characters long, at most %d are allowed", n, maxRunes)
	}
	pos := 0
	for _, r := range text {
		pos++
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == utf8.RuneError) {
			return "", bad.Withf("text contains the character U+%04X at character %d", r, pos)
		}
	}
	if words.Found(text) {
		return "", banned
	}
	return text, nil
}

// ErrQueue is a queue that did not take a message (the caller answers 503).
var ErrQueue = errors.New("im: queue unavailable")

// Enqueue puts v on subject of stream and waits for the queue to store it. A non-empty dedupe
// id makes a repeat within the stream's duplicate window store nothing: first is then the
// message stored first, decoded into v's type, and replay is true.
func Enqueue[T any](ctx context.Context, q *queue.Queue, stream, subject string, v T, dedupe string) (first T, replay bool, err error) {
	data, err := json.Marshal(v)
	if err != nil {
		return first, false, err
	}
	ack, err := q.PublishAck(ctx, subject, data, dedupe)
	if err != nil {
		return first, false, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	if !ack.Duplicate {
		return v, false, nil
	}
	raw, err := q.Stored(ctx, stream, ack.Sequence)
	if err != nil {
		return first, false, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	if err := json.Unmarshal(raw, &first); err != nil {
		return first, false, fmt.Errorf("replayed message: %w", err)
	}
	return first, true, nil
}

// RetryDelay is how long a message the writer or a deliverer could not handle waits before
// the queue delivers it again.
const RetryDelay = time.Second

// Writer applies queued messages in batches: it takes what arrives within its linger (up to size), decodes
// each (an undecodable one is logged and dropped: it would never apply), applies them in one
// call and acknowledges each after it returns. A failed batch goes back to the queue for
// another try after RetryDelay, so nothing is acknowledged before it is applied; apply must
// skip what a redelivery brings twice.
type Writer[T any] struct {
	name    string
	linger  time.Duration
	log     *slog.Logger
	in      chan queue.Msg
	size    int
	timeout time.Duration
	decode  func([]byte) (T, error)
	apply   func(ctx context.Context, batch []T) error
	failed  func(err error, n int)
	done    chan struct{}
}

// NewWriter returns a writer; Add feeds it, Run runs it, Close ends it after what it holds. A
// batch waits linger for more messages after its first (0 = takes what has arrived). failed
// (may be nil) is told of each failed batch.
func NewWriter[T any](name string, log *slog.Logger, size int, linger, timeout time.Duration, decode func([]byte) (T, error),
	apply func(ctx context.Context, batch []T) error, failed func(err error, n int)) *Writer[T] {
	return &Writer[T]{name: name, linger: linger, log: log, in: make(chan queue.Msg, 4*size), size: size, timeout: timeout,
		decode: decode, apply: apply, failed: failed, done: make(chan struct{})}
}

// Add queues a delivered message for the next batch (it blocks while the writer is full).
func (w *Writer[T]) Add(m queue.Msg) { w.in <- m }

// Close stops taking messages; Run applies what it holds and returns.
func (w *Writer[T]) Close() { close(w.in) }

// Linger is how long a store writer's batch waits for more messages once the first has
// arrived: one transaction per few messages costs the store far more than a few milliseconds
// of delay before a message is stored (its delivery does not wait for the store).
const Linger = 5 * time.Millisecond

// Run applies batches until Close.
func (w *Writer[T]) Run() {
	batch := make([]queue.Msg, 0, w.size)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for first := range w.in {
		batch = append(batch[:0], first)
		var due <-chan time.Time
		if w.linger > 0 {
			timer.Reset(w.linger)
			due = timer.C
		}
	fill:
		for len(batch) < w.size {
			if due == nil { // take what has arrived
				select {
				case m, ok := <-w.in:
					if !ok {
						break fill
					}
					batch = append(batch, m)
				default:
					break fill
				}
				continue
			}
			select {
			case m, ok := <-w.in:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			case <-due:
				break fill
			}
		}
		timer.Stop()
		w.write(batch)
	}
}

func (w *Writer[T]) write(batch []queue.Msg) {
	vals := make([]T, 0, len(batch))
	keep := batch[:0:0]
	for _, qm := range batch {
		v, err := w.decode(qm.Data())
		if err != nil {
			w.log.Error(w.name+": dropping an unreadable queued message", "subject", qm.Subject(), "err", err)
			_ = qm.Term()
			continue
		}
		vals = append(vals, v)
		keep = append(keep, qm)
	}
	if len(vals) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	if err := w.apply(ctx, vals); err != nil {
		if w.failed != nil {
			w.failed(err, len(vals))
		}
		w.log.Warn(w.name+": batch failed, queued for another try", "messages", len(vals), "err", err)
		for _, qm := range keep {
			_ = qm.NakWithDelay(RetryDelay)
		}
		return
	}
	for _, qm := range keep {
		_ = qm.Ack()
	}
}

// Event is an op-5 body {"cmd": cmd, "data": data}, as pushed to a user's connections.
func Event(cmd string, data any) []byte {
	b, _ := json.Marshal(struct {
		Cmd  string `json:"cmd"`
		Data any    `json:"data"`
	}{cmd, data})
	return b
}

// Consumers are the durable consumers a component runs; Stop stops every one.
type Consumers struct {
	stops []func()
}

// Consume starts a durable consumer of spec whose messages go to handle.
func (c *Consumers) Consume(ctx context.Context, q *queue.Queue, spec queue.ConsumerSpec, handle func(queue.Msg)) error {
	stop, err := q.Consume(ctx, spec, handle)
	if err != nil {
		return err
	}
	c.stops = append(c.stops, stop)
	return nil
}

// Stop stops the consumers, each returning once its handler calls are done.
func (c *Consumers) Stop() {
	for _, stop := range c.stops {
		stop()
	}
	c.stops = nil
}
