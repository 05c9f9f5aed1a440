package table

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Bucket is the key-value bucket (within the queue namespace) that holds the route table an
// operator set through the admin API, shared by every gateway of the cluster.
const Bucket = "gateway_routes"

// sharedKey is the one key of the bucket.
const sharedKey = "table"

// Shared is the operator's route table kept on the queue: every gateway watching it serves it
// instead of its config's table while it is there.
type Shared struct {
	kv  jetstream.KeyValue
	log *slog.Logger
}

// OpenShared creates the bucket if needed.
func OpenShared(ctx context.Context, q *queue.Queue, log *slog.Logger) (*Shared, error) {
	kv, err := q.EnsureKV(ctx, queue.KVSpec{Name: Bucket})
	if err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	return &Shared{kv: kv, log: log}, nil
}

// Put stores t (validated first) for every gateway.
func (s *Shared) Put(ctx context.Context, t Table) error {
	if err := t.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, sharedKey, b); err != nil {
		return fmt.Errorf("route table: store: %w", err)
	}
	return nil
}

// Delete removes the operator's table: every gateway goes back to its config's.
func (s *Shared) Delete(ctx context.Context) error {
	if err := s.kv.Delete(ctx, sharedKey); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("route table: delete: %w", err)
	}
	return nil
}

// Watch calls fn with the operator's table now and at every change (nil when there is none),
// on one goroutine, until ctx ends; ready is closed once the current state was given.
func (s *Shared) Watch(ctx context.Context, fn func(*Table)) (ready <-chan struct{}, err error) {
	seen := false
	r, err := queue.WatchKV(ctx, s.kv, "route table", s.log, decodeShared, func(t *Table) {
		seen = true
		fn(t)
	})
	if err != nil {
		return nil, err
	}
	out := make(chan struct{})
	go func() {
		select {
		case <-r:
			if !seen {
				fn(nil) // no operator table: the config's
			}
			close(out)
		case <-ctx.Done():
		}
	}()
	return out, nil
}

func decodeShared(e jetstream.KeyValueEntry) (*Table, error) {
	if e.Key() != sharedKey {
		return nil, fmt.Errorf("unknown key %q", e.Key())
	}
	if e.Operation() != jetstream.KeyValuePut {
		return nil, nil
	}
	return DecodeTable(e.Value())
}

// DecodeTable reads a table from JSON, refusing unknown fields, then validates it.
func DecodeTable(b []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t Table
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	if dec.More() {
		return nil, errors.New("route table: trailing data after the table")
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}
