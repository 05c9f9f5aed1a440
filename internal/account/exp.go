package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Experience points. Other components earn a user experience by publishing an ExpEvent on the
// EXP stream (through an ExpPublisher); account folds the events per user per window into the
// users.exp column with pkg/aggregate's durable mode, so each event counts exactly once across
// redeliveries, re-publishes and crashes. /api/me shows the points and the level they reach.
const (
	// ExpStreamName is the stream of experience events; subjects are ExpSubjectPrefix + uid.
	ExpStreamName = "EXP"
	// ExpSubjectPrefix starts the subject of a user's experience events.
	ExpSubjectPrefix = "exp.user."
	// ExpConsumer is the durable consumer folding the events into users.exp.
	ExpConsumer = "account-exp"

	expStreamMaxAge     = 7 * 24 * time.Hour
	expStreamDuplicates = 10 * time.Minute
	// MaxLevel caps Level.
	MaxLevel = 60
)

// ExpEvent is one grant of experience. ID is the idempotency id of the grant, unique across
// every source (the comment id for a comment, the order id for a gift: both come from the
// same Snowflake generator, so they never collide): any copy of one grant carries the same
// id and counts once.
type ExpEvent struct {
	UID   int64 `json:"uid"`
	Delta int64 `json:"delta"`
	ID    int64 `json:"id"`
}

// Level is the user level experience reaches: floor(sqrt(exp/10)) + 1, capped at MaxLevel.
// Level 2 takes 10 points, level 3 40, level 10 810, level 60 34 810: each level costs a
// little more than the one before, as on Bilibili.
func Level(exp int64) int {
	if exp <= 0 {
		return 1
	}
	r := int64(math.Sqrt(float64(exp / 10)))
	for r*r > exp/10 { // guard the float rounding at perfect squares
		r--
	}
	for (r+1)*(r+1) <= exp/10 {
		r++
	}
	return int(min(r+1, MaxLevel))
}

// ExpStream is the spec of the EXP stream; account and every publisher ensure the same one.
func ExpStream(q *queue.Queue) queue.StreamSpec {
	return queue.StreamSpec{Name: q.Stream(ExpStreamName), Subjects: []string{q.Subject(ExpSubjectPrefix + ">")},
		MaxAge: expStreamMaxAge, Duplicates: expStreamDuplicates}
}

// ExpPublisher stores experience events on the EXP stream, waiting for JetStream's ack. One
// process shares one publisher among the components that grant experience (danmaku, gift),
// and it needs no account component in the process: account folds the events wherever it runs.
type ExpPublisher struct {
	q         *queue.Queue
	published *prometheus.CounterVec

	mu    sync.Mutex
	ready bool // the stream is known to exist
}

// NewExpPublisher builds a publisher on q with its metrics on reg; it starts nothing.
func NewExpPublisher(q *queue.Queue, reg prometheus.Registerer) (*ExpPublisher, error) {
	if q == nil || reg == nil {
		return nil, errors.New("account: exp publisher needs a queue and a registry")
	}
	p := &ExpPublisher{q: q, published: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_account_exp_published_total", Help: "Experience events published, by result (ok, error).",
	}, []string{"result"})}
	p.published.WithLabelValues("ok")
	p.published.WithLabelValues("error")
	if err := reg.Register(p.published); err != nil {
		return nil, fmt.Errorf("account: exp publisher metrics: %w", err)
	}
	return p, nil
}

// AddExp publishes +delta experience for uid; id is the grant's idempotency id (> 0) and the
// message id, so a retry within the stream's duplicate window is stored once and any later
// copy is skipped by the fold. It returns once the event is stored.
func (p *ExpPublisher) AddExp(ctx context.Context, uid, delta, id int64) error {
	err := p.publish(ctx, uid, delta, id)
	if err != nil {
		p.published.WithLabelValues("error").Inc()
		return err
	}
	p.published.WithLabelValues("ok").Inc()
	return nil
}

func (p *ExpPublisher) publish(ctx context.Context, uid, delta, id int64) error {
	if uid <= 0 || id <= 0 {
		return fmt.Errorf("exp event uid %d id %d: want both > 0", uid, id)
	}
	// The stream is ensured here too, not only by account's Start: in cluster mode the
	// granting component may start before any account process has created it.
	p.mu.Lock()
	if !p.ready {
		if err := p.q.EnsureStream(ctx, ExpStream(p.q)); err != nil {
			p.mu.Unlock()
			return fmt.Errorf("exp stream: %w", err)
		}
		p.ready = true
	}
	p.mu.Unlock()
	data, err := json.Marshal(ExpEvent{UID: uid, Delta: delta, ID: id})
	if err != nil {
		return err
	}
	sid := strconv.FormatInt(id, 10)
	return p.q.Publish(ctx, p.q.Subject(ExpSubjectPrefix+strconv.FormatInt(uid, 10)), data, "exp:"+sid)
}
