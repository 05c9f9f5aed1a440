// Package pushtest holds the push.Client fake every business component's tests share: it
// records each push instead of putting it on the queue.
package pushtest

import (
	"context"
	"slices"
	"sync"

	"github.com/zhibo-live/zhibo/internal/push"
)

// Recorder is a push.Client that records every push in call order. Fail makes later pushes
// return an error and record nothing, as a queue that is down would.
type Recorder struct {
	mu     sync.Mutex
	pushes []push.Push
	err    error
	ids    map[string]bool // PushRoomOnce ids taken, as the stream's duplicate window would
}

var _ push.Client = (*Recorder)(nil)

// PushRoom implements push.Client.
func (r *Recorder) PushRoom(_ context.Context, roomID int64, msgs ...[]byte) error {
	return r.record(push.Push{Target: push.TargetRoom, RoomID: roomID, Msgs: msgs})
}

// PushRoomOnce implements push.Client: a repeated id is taken and not recorded again.
func (r *Recorder) PushRoomOnce(ctx context.Context, roomID int64, id string, msgs ...[]byte) error {
	return r.once(id, func() error { return r.PushRoom(ctx, roomID, msgs...) })
}

// PushUsersOnce implements push.Client: a repeated id is taken and not recorded again.
func (r *Recorder) PushUsersOnce(ctx context.Context, uids []int64, id string, msgs ...[]byte) error {
	return r.once(id, func() error { return r.PushUsers(ctx, uids, msgs...) })
}

// once runs push unless id was pushed before, as the stream's duplicate window would.
func (r *Recorder) once(id string, push func() error) error {
	r.mu.Lock()
	seen := r.ids[id]
	r.mu.Unlock()
	if seen {
		return nil
	}
	if err := push(); err != nil {
		return err
	}
	r.mu.Lock()
	if r.ids == nil {
		r.ids = map[string]bool{}
	}
	r.ids[id] = true
	r.mu.Unlock()
	return nil
}

// PushUsers implements push.Client.
func (r *Recorder) PushUsers(_ context.Context, uids []int64, msgs ...[]byte) error {
	return r.record(push.Push{Target: push.TargetUser, UIDs: slices.Clone(uids), Msgs: msgs})
}

// Broadcast implements push.Client.
func (r *Recorder) Broadcast(_ context.Context, msgs ...[]byte) error {
	return r.record(push.Push{Target: push.TargetAll, Msgs: msgs})
}

func (r *Recorder) record(p push.Push) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	p.Msgs = slices.Clone(p.Msgs)
	r.pushes = append(r.pushes, p)
	return nil
}

// Fail makes every later push fail with err (nil: succeed again).
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// All returns the pushes so far, oldest first.
func (r *Recorder) All() []push.Push {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pushes)
}

// Msgs returns every message body pushed so far, in order, whatever its target.
func (r *Recorder) Msgs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.pushes {
		for _, m := range p.Msgs {
			out = append(out, string(m))
		}
	}
	return out
}

// Has reports whether msg was pushed.
func (r *Recorder) Has(msg string) bool { return slices.Contains(r.Msgs(), msg) }
