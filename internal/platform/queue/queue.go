// Package queue is the durable message queue between components: NATS JetStream, embedded in
// the process (file-backed, no listening port) by default, or an external cluster by URL.
// Publishing waits for the stream's acknowledgement, so a published message is stored;
// consumers are durable, so several processes share one consumer's work and nothing
// acknowledged to a publisher is lost while a consumer is down.
package queue

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// Config selects the JetStream the process uses.
type Config struct {
	// URL of an external NATS server or cluster with JetStream; empty = embedded server
	// storing under <data_dir>/nats.
	URL string `yaml:"url"`
	// Replicas of each stream on an external cluster (0 = 1).
	Replicas int `yaml:"replicas"`
	// Namespace prefixes every stream and subject, so several deployments (or test runs)
	// can share one NATS cluster without seeing each other's messages.
	Namespace string `yaml:"namespace"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.URL, prefix+"url", "", "external NATS JetStream URL, e.g. nats://127.0.0.1:4222 (empty = embedded, file-backed under <data_dir>/nats).")
	fs.IntVar(&c.Replicas, prefix+"replicas", 1, "stream replicas on an external cluster (0 = 1).")
	fs.StringVar(&c.Namespace, prefix+"namespace", "zhibo", "prefix of every stream and subject (letters, digits, _ and -).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Namespace == "" || strings.ContainsAny(c.Namespace, ". *>\t") {
		return fmt.Errorf("queue.namespace %q: want a non-empty name without dots, spaces or wildcards", c.Namespace)
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("queue.replicas %d: want 1..5", c.Replicas)
	}
	return nil
}

// Queue is a connection to JetStream (and the embedded server when there is one).
type Queue struct {
	cfg Config
	log *slog.Logger
	ns  *server.Server
	nc  *nats.Conn
	JS  jetstream.JetStream

	consumers consumers // what this process consumes from (Collector)
}

// Msg is a delivered message; handlers Ack, Nak or Term it.
type Msg = jetstream.Msg

// Open connects to cfg.URL, or starts the embedded server first.
func Open(ctx context.Context, cfg Config, dataDir string, log *slog.Logger) (*Queue, error) {
	q := &Queue{cfg: cfg, log: log}
	opts := []nats.Option{
		nats.Name("zhibo"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("queue disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("queue reconnected", "url", c.ConnectedUrl()) }),
	}
	url := cfg.URL
	if url == "" {
		// The store keeps every queued message: owner-only, like the rest of the data dir.
		storeDir := filepath.Join(dataDir, "nats")
		if err := os.MkdirAll(storeDir, 0o700); err != nil {
			return nil, fmt.Errorf("embedded nats: create store dir: %w", err)
		}
		ns, err := server.NewServer(&server.Options{
			ServerName: "zhibo-embedded",
			JetStream:  true,
			StoreDir:   storeDir,
			DontListen: true,
			NoSigs:     true,
			NoLog:      true,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		ns.Start()
		if !ns.ReadyForConnections(30 * time.Second) {
			ns.Shutdown()
			return nil, errors.New("embedded nats: not ready after 30s")
		}
		q.ns = ns
		url = ns.ClientURL()
		opts = append(opts, nats.InProcessServer(ns))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		q.shutdownServer()
		return nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	q.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	q.JS = js
	return q, nil
}

// Stream names a stream within the namespace: Stream("PUSH") = "zhibo_PUSH".
func (q *Queue) Stream(name string) string { return q.namespace() + "_" + name }

// Subject names a subject within the namespace: Subject("push.room.1") = "zhibo.push.room.1".
func (q *Queue) Subject(s string) string { return q.namespace() + "." + s }

func (q *Queue) namespace() string {
	if q.cfg.Namespace == "" {
		return "zhibo"
	}
	return q.cfg.Namespace
}

// Embedded reports whether the server runs inside this process.
func (q *Queue) Embedded() bool { return q.ns != nil }

// StreamSpec describes a stream a component owns.
type StreamSpec struct {
	Name       string
	Subjects   []string
	MaxAge     time.Duration // how long messages are kept (0 = forever)
	MaxBytes   int64         // 0 = unlimited
	Duplicates time.Duration // window for Nats-Msg-Id de-duplication (0 = 2 min)
	// RefuseWhenFull refuses new messages once MaxBytes is reached instead of discarding the
	// oldest: for streams whose messages must all be consumed (nothing acknowledged is lost).
	RefuseWhenFull bool
}

// replicas is how many copies of a stream or bucket the server keeps: 1 on the embedded
// server, the configured count on an external cluster.
func (q *Queue) replicas() int {
	if q.cfg.Replicas <= 0 || q.ns != nil {
		return 1
	}
	return q.cfg.Replicas
}

// EnsureStream creates a stream, or updates it when it differs from s. A stream already as s
// asks is left untouched: every replica of a component ensures its streams as it starts, and
// an update the server applies while another replica creates a consumer on the stream is
// needless work (a raft round in a cluster) that the server does not fully guard.
func (q *Queue) EnsureStream(ctx context.Context, s StreamSpec) error {
	rep := q.replicas()
	mb := s.MaxBytes
	if mb == 0 {
		mb = -1
	}
	discard := jetstream.DiscardOld
	if s.RefuseWhenFull {
		discard = jetstream.DiscardNew
	}
	want := jetstream.StreamConfig{
		Discard:    discard,
		Name:       s.Name,
		Subjects:   s.Subjects,
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     s.MaxAge,
		MaxBytes:   mb,
		Duplicates: s.Duplicates,
		Replicas:   rep,
	}
	if st, err := q.JS.Stream(ctx, s.Name); err == nil && sameStream(st.CachedInfo().Config, want) {
		return nil
	}
	_, err := q.JS.CreateOrUpdateStream(ctx, want)
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.Name, err)
	}
	return nil
}

// KVSpec describes a key-value bucket a component owns.
type KVSpec struct {
	Name     string // within the namespace: "leases" is bucket "zhibo_leases"
	Memory   bool   // keep the bucket in the servers' memory, not on disk
	MaxBytes int64  // 0 = unlimited
	// TTL removes a key this long after its last write (0 = never). Expiry is silent: a
	// watcher gets no delete marker, so readers judge freshness by each entry's time too.
	TTL time.Duration
}

// EnsureKV creates or updates a key-value bucket that keeps only the latest value of each key.
func (q *Queue) EnsureKV(ctx context.Context, s KVSpec) (jetstream.KeyValue, error) {
	storage := jetstream.FileStorage
	if s.Memory {
		storage = jetstream.MemoryStorage
	}
	mb := s.MaxBytes
	if mb == 0 {
		mb = -1
	}
	name := q.Stream(s.Name)
	cfg := jetstream.KeyValueConfig{
		Bucket:   name,
		History:  1,
		Storage:  storage,
		MaxBytes: mb,
		TTL:      s.TTL,
		Replicas: q.replicas(),
	}
	if kv, err := q.JS.KeyValue(ctx, name); err == nil {
		if st, err := kv.Status(ctx); err == nil {
			if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && sameBucket(bs.Config(), cfg) {
				return kv, nil // as asked already: no update (EnsureStream says why)
			}
		}
	}
	kv, err := q.JS.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("kv bucket %s: %w", name, err)
	}
	return kv, nil
}

// sameStream reports whether a stream configured as have already is what want asks, in the
// fields EnsureStream sets. A zero duplicate window in want stands for the server's default
// (2 min, or the age limit when that is shorter); a default it mispredicts only costs an update.
func sameStream(have, want jetstream.StreamConfig) bool {
	dup := want.Duplicates
	if dup == 0 {
		dup = 2 * time.Minute
		if want.MaxAge > 0 && want.MaxAge < dup {
			dup = want.MaxAge
		}
	}
	return slices.Equal(have.Subjects, want.Subjects) && have.Discard == want.Discard &&
		have.Storage == want.Storage && have.Retention == want.Retention &&
		have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes &&
		have.Duplicates == dup && have.Replicas == want.Replicas
}

// sameBucket reports whether a bucket configured as have already is what want asks, in the
// fields EnsureKV sets.
func sameBucket(have, want jetstream.KeyValueConfig) bool {
	return have.History == want.History && have.Storage == want.Storage &&
		have.MaxBytes == want.MaxBytes && have.TTL == want.TTL && have.Replicas == want.Replicas
}

// Publish stores data on subject and waits for the acknowledgement. A non-empty msgID makes
// retries within the stream's duplicate window store the message once. The message carries
// the trace context of ctx in its headers (Carrier), so its consumer continues the trace, and
// the elastic-pool mark of a marked ctx (MsgContext restores both).
func (q *Queue) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	_, err := q.PublishAck(ctx, subject, data, msgID)
	return err
}

// PublishAck is Publish returning the stream's acknowledgement: the message's sequence, or,
// when msgID repeats one stored within the duplicate window, Duplicate and the sequence of
// the message stored first (Stored reads it back).
func (q *Queue) PublishAck(ctx context.Context, subject string, data []byte, msgID string) (*jetstream.PubAck, error) {
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	msg := &nats.Msg{Subject: subject, Data: data}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		if sc.IsSampled() {
			var span trace.Span
			ctx, span = obs.Tracer().Start(ctx, "queue publish", trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject)))
			defer span.End()
		}
		msg.Header = nats.Header{}
		obs.Inject(ctx, Carrier(msg.Header))
	}
	if elastic.Marked(ctx) { // work a marked request enqueues stays in the elastic pool
		if msg.Header == nil {
			msg.Header = nats.Header{}
		}
		elastic.Inject(ctx, Carrier(msg.Header))
	}
	ack, err := q.JS.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", subject, err)
	}
	return ack, nil
}

// Stored returns the data of the message stored in stream at seq.
func (q *Queue) Stored(ctx context.Context, stream string, seq uint64) ([]byte, error) {
	st, err := q.JS.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("stream %s message %d: %w", stream, seq, err)
	}
	return m.Data, nil
}

// Carrier reads and writes the trace context in a message's headers, under the exact W3C
// names (NATS headers keep their case).
type Carrier nats.Header

// Get returns the value of key.
func (c Carrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set stores value under key.
func (c Carrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the keys.
func (c Carrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// MsgContext returns ctx with the trace context and the elastic-pool mark m carries, if any.
func MsgContext(ctx context.Context, m Msg) context.Context {
	h := m.Headers()
	if len(h) == 0 {
		return ctx
	}
	return elastic.Extract(obs.Extract(ctx, Carrier(h)), Carrier(h))
}

// PublishAsync stores data without waiting; the returned future reports the outcome.
func (q *Queue) PublishAsync(subject string, data []byte) (jetstream.PubAckFuture, error) {
	return q.JS.PublishAsync(subject, data)
}

// ConsumerSpec describes a durable consumer.
type ConsumerSpec struct {
	Stream     string
	Durable    string
	Filter     string        // subject filter ("" = all the stream's subjects)
	AckWait    time.Duration // redelivery after this long without ack (0 = 30s)
	MaxPending int           // unacknowledged messages in flight (0 = 10000)
}

// Consume delivers the consumer's messages to handler until the returned stop is called.
// The handler acks each message itself (possibly later, from another goroutine).
func (q *Queue) Consume(ctx context.Context, c ConsumerSpec, handler func(Msg)) (stop func(), err error) {
	ack := c.AckWait
	if ack == 0 {
		ack = 30 * time.Second
	}
	mp := c.MaxPending
	if mp == 0 {
		mp = 10000
	}
	cons, err := q.JS.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:       c.Durable,
		FilterSubject: c.Filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ack,
		MaxAckPending: mp,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s/%s: %w", c.Stream, c.Durable, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { handler(m) },
		jetstream.PullMaxMessages(min(mp, 1000)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			q.log.Debug("consume", "consumer", c.Durable, "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("consume %s/%s: %w", c.Stream, c.Durable, err)
	}
	q.consumers.add(c.Stream, c.Durable, cons)
	return func() { q.consumers.remove(c.Stream, c.Durable); cc.Drain(); <-cc.Closed() }, nil
}

// Close drains the connection and stops the embedded server.
func (q *Queue) Close() {
	if q.nc != nil {
		_ = q.nc.Drain()
		for i := 0; i < 100 && !q.nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		q.nc.Close()
	}
	q.shutdownServer()
}

func (q *Queue) shutdownServer() {
	if q.ns != nil {
		q.ns.Shutdown()
		q.ns.WaitForShutdown()
	}
}

// WatchKV sends every current entry of kv, decoded, and then every change to fn, on one
// goroutine, until ctx ends; ready is closed once the current entries have been sent. An entry
// decode refuses is logged (as name's) and skipped. keys, when given, are the key patterns
// watched ("users.>"), instead of every key.
func WatchKV[E any](ctx context.Context, kv jetstream.KeyValue, name string, log *slog.Logger,
	decode func(jetstream.KeyValueEntry) (E, error), fn func(E), keys ...string) (ready <-chan struct{}, err error) {
	w, err := watch(ctx, kv, name, keys)
	if err != nil {
		return nil, err
	}
	r := make(chan struct{})
	go follow(ctx, w, name, log, decode, fn, r, nil)
	return r, nil
}

// WatchKVChanges sends the changes of kv made from now on, decoded, to fn — none of the
// entries it holds already — on one goroutine, until ctx ends or the watch breaks off; ended
// is closed then. An entry decode refuses is logged (as name's) and skipped.
func WatchKVChanges[E any](ctx context.Context, kv jetstream.KeyValue, name string, log *slog.Logger,
	decode func(jetstream.KeyValueEntry) (E, error), fn func(E)) (ended <-chan struct{}, err error) {
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return nil, fmt.Errorf("%s: watch: %w", name, err)
	}
	e := make(chan struct{})
	go follow(ctx, w, name, log, decode, fn, nil, e)
	return e, nil
}

func watch(ctx context.Context, kv jetstream.KeyValue, name string, keys []string) (jetstream.KeyWatcher, error) {
	var w jetstream.KeyWatcher
	var err error
	if len(keys) > 0 {
		w, err = kv.WatchFiltered(ctx, keys)
	} else {
		w, err = kv.WatchAll(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: watch: %w", name, err)
	}
	return w, nil
}

// follow passes w's entries to fn until ctx ends or w closes: ready (when not nil) is closed
// at the marker after the current entries, ended (when not nil) as it returns.
func follow[E any](ctx context.Context, w jetstream.KeyWatcher, name string, log *slog.Logger,
	decode func(jetstream.KeyValueEntry) (E, error), fn func(E), ready, ended chan struct{}) {
	defer func() {
		_ = w.Stop()
		if ended != nil {
			close(ended)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the current entries are all sent
				if ready != nil {
					close(ready)
					ready = nil
				}
				continue
			}
			ev, err := decode(e)
			if err != nil {
				log.Warn(name+": skipping malformed entry", "key", e.Key(), "err", err)
				continue
			}
			fn(ev)
		}
	}
}
