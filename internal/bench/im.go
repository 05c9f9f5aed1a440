package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/viewer"
)

// IM is one configured `zhibo bench im` run.
type IM struct {
	cfg  IMConfig
	deps Deps
}

// NewIM checks cfg; it contacts nothing.
func NewIM(cfg IMConfig, deps Deps) (*IM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &IM{cfg: cfg, deps: deps}, nil
}

// imUser is a registered user and its channel connection.
type imUser struct {
	uid   int64
	token string // bearer token of the API
	conn  *viewer.Conn
	err   error // why the channel ended before the run closed it; written by its reader
}

// imTextSize is the length of a message's text: the stamp (text.go) padded with 'x'.
const imTextSize = 64

// imBehind is how late a send may start after its due time before it counts as behind.
const imBehind = 10 * time.Millisecond

// imRun is the state of one Run; counters are atomics shared by workers, readers and the
// progress line.
type imRun struct {
	cfg   IMConfig
	api   *apiClient
	tag   string
	users []imUser
	pairs int // streams: one per user, who writes to a partner or to its group
	// The first grouped users are in groups of cfg.GroupSize (group g: users g×size …);
	// groups[g] is group g's id.
	grouped int
	groups  []int64
	check   *imCheck
	notices *imNotices // nil without -notice_batch and -notice_high_every
	ack     *Hist      // due time → acknowledgement
	e2e     *Hist      // due time → the receiver's IM_MSG

	phase               atomic.Value // string
	sent, acked, behind atomic.Int64
	received, echoes    atomic.Int64 // IM_MSG of this run on the receiver's / sender's channel, copies included
	foreign, mismatched atomic.Int64
	replays             atomic.Int64
	up, dropped         atomic.Int64
	closing             atomic.Bool
	readers             sync.WaitGroup
	readDeadline        time.Time
	wsURL, tcpAddr      string
	errMu               sync.Mutex
	errs                map[string]int64 // by HTTP status, or "transport"
	firstErr            string
}

// partner is who paired user i writes to: the paired users (after the grouped ones) go
// 0↔1, 2↔3, … among themselves, and an odd last one writes to the first of them (to user 0
// when it is the only one).
func (r *imRun) partner(i int) int {
	base := r.grouped
	if j := base + ((i - base) ^ 1); j < len(r.users) {
		return j
	}
	if base != i {
		return base
	}
	return 0
}

// groupOf is the group user p writes to, or -1 for a paired user.
func (r *imRun) groupOf(p int) int {
	if p < r.grouped {
		return p / r.cfg.GroupSize
	}
	return -1
}

// slot is which receiver of stream p user i is: 0 for the partner, the member's place among
// the others for a group; -1 when i is not a receiver of p.
func (r *imRun) slot(p, i int) int {
	g := r.groupOf(p)
	if g < 0 {
		if i == r.partner(p) {
			return 0
		}
		return -1
	}
	if i == p || i >= r.grouped || r.groupOf(i) != g {
		return -1
	}
	if i < p {
		return i - g*r.cfg.GroupSize
	}
	return i - g*r.cfg.GroupSize - 1
}

// receivers is how many receivers each stream has.
func (r *imRun) receivers() []int {
	out := make([]int, len(r.users))
	for p := range out {
		out[p] = 1
		if p < r.grouped {
			out[p] = r.cfg.GroupSize - 1
		}
	}
	return out
}

// Run registers the users, opens their channels, sends for the configured duration, drains
// and returns the report. It stops by itself: every phase is bounded, and ctx ends it early.
func (b *IM) Run(ctx context.Context) (*IMReport, error) {
	cfg := b.cfg
	hard := cfg.SetupTimeout + cfg.Duration + cfg.Drain + time.Minute
	ctx, cancel := context.WithTimeout(ctx, hard)
	defer cancel()
	rep := &IMReport{Config: cfg, Started: time.Now().UTC()}
	api, tag, err := newAPI(cfg.URL, cfg.Senders)
	if err != nil {
		return nil, err
	}
	note, err := raiseFileLimit(uint64(cfg.Users + cfg.Senders + 64))
	if err != nil {
		return nil, err
	}
	if note != "" {
		rep.Notes = append(rep.Notes, note)
	}
	r := &imRun{cfg: cfg, api: api, tag: tag, users: make([]imUser, cfg.Users), pairs: cfg.Users,
		grouped: cfg.groups() * cfg.GroupSize, groups: make([]int64, cfg.groups()),
		ack: NewHist(4 * runtime.GOMAXPROCS(0)), e2e: NewHist(4 * runtime.GOMAXPROCS(0)),
		readDeadline: time.Now().Add(hard), errs: map[string]int64{}}
	r.check = newIMCheck(r.receivers())
	if cfg.NoticeBatch > 0 || cfg.NoticeHighEvery > 0 {
		r.notices = newIMNotices(cfg, api, tag, 4*runtime.GOMAXPROCS(0))
	}
	r.phase.Store("setup")
	start := time.Now()
	pctx, pstop := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { progress(pctx, b.deps, r.progressLine(start)) })
	bg.Go(func() { r.sample(pctx, start, rep) })
	defer func() { pstop(); bg.Wait() }()

	if err := r.setup(ctx); err != nil {
		r.closeAll()
		return nil, err
	}
	rep.SetupSeconds = time.Since(start).Seconds()
	hctx, hstop := context.WithCancel(ctx)
	bg.Go(func() { r.heartbeats(hctx) })

	r.phase.Store("send")
	nctx, nstop := context.WithCancel(ctx)
	var nwg sync.WaitGroup
	if r.notices != nil {
		nwg.Go(func() { r.notices.run(nctx, r.users) })
	}
	cpu := startCPU(cfg.PID)
	sendStart := time.Now()
	rep.Offered = r.send(ctx, sendStart)
	rep.SendSeconds = time.Since(sendStart).Seconds()
	rep.CPU.Generator, rep.CPU.Server = cpu.stop()

	r.phase.Store("drain")
	drainStart := time.Now()
	stopHigh := r.notices != nil && cfg.NoticeBatch == 0
	if stopHigh {
		nstop() // no batch to follow: no high notice after the sends
		nwg.Wait()
	}
	for time.Since(drainStart) < cfg.Drain && ctx.Err() == nil && !(r.check.settled() && (r.notices == nil || r.notices.settled())) {
		time.Sleep(20 * time.Millisecond)
	}
	nstop()
	nwg.Wait()
	rep.DrainSeconds = time.Since(drainStart).Seconds()
	if r.notices != nil {
		rep.Notices = r.notices.report()
	}
	hstop()
	r.closeAll()
	r.finish(rep)
	if rep.Acked == 0 {
		return rep, errors.New("no message was acknowledged: " + rep.FirstError)
	}
	return rep, nil
}

// setup registers every user, fetches its channel token and opens its channel, then makes
// the groups.
func (r *imRun) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SetupTimeout)
	defer cancel()
	u, err := url.Parse(r.cfg.URL)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	var hostsOnce sync.Once
	if err := parallel(ctx, len(r.users), 16, func(ctx context.Context, i int) error {
		s, err := r.api.register(ctx, r.tag+"u"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		var ch danmuInfo
		if err := r.api.call(ctx, "GET", "/api/channel", s.Token, nil, &ch); err != nil {
			return fmt.Errorf("user %d channel: %w", s.UID, err)
		}
		// The comet's addresses, as danmu-info announces them, dialled on -url's host.
		hostsOnce.Do(func() {
			r.wsURL = scheme + "://" + u.Host + "/sub"
			if len(ch.HostList) > 0 {
				if h := ch.HostList[0]; h.WSPort > 0 {
					r.wsURL = scheme + "://" + net.JoinHostPort(host, strconv.Itoa(h.WSPort)) + "/sub"
				}
				if h := ch.HostList[0]; h.Port > 0 {
					r.tcpAddr = net.JoinHostPort(host, strconv.Itoa(h.Port))
				}
			}
		})
		o := viewer.Options{UID: s.UID, RoomID: 0, Token: ch.Token, ProtoVer: r.cfg.ProtoVer, WS: r.useWS(i)}
		if o.WS {
			o.Addr = r.wsURL
		} else if o.Addr = r.tcpAddr; o.Addr == "" {
			return errors.New("the channel's host list has no raw TCP port: use -ws_ratio 1")
		}
		dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
		c, err := viewer.Dial(dctx, o)
		dcancel()
		if err != nil {
			return fmt.Errorf("user %d channel: %w", s.UID, err)
		}
		r.users[i] = imUser{uid: s.UID, token: s.Token, conn: c}
		r.up.Add(1)
		r.readers.Go(func() { r.read(i) })
		return nil
	}); err != nil {
		return err
	}
	return parallel(ctx, len(r.groups), 16, func(ctx context.Context, g int) error {
		size := r.cfg.GroupSize
		owner := &r.users[g*size]
		members := make([]int64, 0, size-1)
		for i := g*size + 1; i < (g+1)*size; i++ {
			members = append(members, r.users[i].uid)
		}
		var grp struct {
			ID int64 `json:"id"`
		}
		in := map[string]any{"name": r.tag + "g" + strconv.Itoa(g), "members": members}
		if err := r.api.call(ctx, "POST", "/api/im/groups", owner.token, in, &grp); err != nil {
			return fmt.Errorf("group %d: %w", g, err)
		}
		r.groups[g] = grp.ID
		return nil
	})
}

// useWS says channel i is a WebSocket: the share ws_ratio of the users, interleaved with
// raw TCP.
func (r *imRun) useWS(i int) bool {
	return math.Floor(float64(i+1)*r.cfg.WSRatio) > math.Floor(float64(i)*r.cfg.WSRatio)
}

// send runs the open-loop schedule: message k (k < rate × duration) is due at start + k/rate
// and goes on pair k mod pairs, as that pair's sequence number k/pairs + 1. Pair p belongs to
// worker p mod workers, which sends its pairs' messages in due order, each when due or — if
// the previous answer came late — at once. It returns the number of messages scheduled.
func (r *imRun) send(ctx context.Context, start time.Time) int64 {
	total := int64(math.Round(r.cfg.Rate * r.cfg.Duration.Seconds()))
	interval := float64(time.Second) / r.cfg.Rate
	workers := min(r.cfg.Senders, r.pairs)
	// A worker hopelessly behind stops half a minute after the schedule ends; what it had
	// left counts as not sent.
	sctx, cancel := context.WithDeadline(ctx, start.Add(r.cfg.Duration+30*time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			shard := w % r.ack.Shards()
			text := make([]byte, 0, imTextSize)
			t := time.NewTimer(0)
			defer t.Stop()
			for round := int64(0); ; round++ {
				for p := w; p < r.pairs; p += workers {
					k := round*int64(r.pairs) + int64(p)
					if k >= total {
						return
					}
					due := start.Add(time.Duration(float64(k) * interval))
					if d := time.Until(due); d > 0 {
						t.Reset(d)
						select {
						case <-sctx.Done():
							return
						case <-t.C:
						}
					} else if sctx.Err() != nil {
						return
					} else if -d > imBehind {
						r.behind.Add(1)
					}
					r.sendOne(sctx, shard, p, round+1, due, text)
				}
			}
		})
	}
	wg.Wait()
	return total
}

// imSendAnswer is the part of the send answer the bench checks.
type imSendAnswer struct {
	ID       int64  `json:"id"`
	ClientID string `json:"client_id"`
	Replay   bool   `json:"replay"`
}

// imSendBody is a send: To for a partner, nothing for a group (named in the path).
type imSendBody struct {
	To       int64  `json:"to,omitempty"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
}

// sendOne posts message seq of stream p and records its outcome.
func (r *imRun) sendOne(ctx context.Context, shard, p int, seq int64, due time.Time, text []byte) {
	from := &r.users[p]
	text = appendText(text[:0], stamp{sender: p, seq: seq, sentNS: due.UnixNano()}, imTextSize)
	cid := r.clientID(p, seq)
	body, path := imSendBody{Text: string(text), ClientID: cid}, "/api/im/messages"
	if g := r.groupOf(p); g >= 0 {
		path = "/api/im/groups/" + strconv.FormatInt(r.groups[g], 10) + "/messages"
	} else {
		body.To = r.users[r.partner(p)].uid
	}
	r.sent.Add(1)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	var ans imSendAnswer
	err := r.api.call(sctx, "POST", path, from.token, body, &ans)
	cancel()
	if err == nil && (ans.ClientID != cid || ans.ID <= 0) {
		err = fmt.Errorf("answer names client_id %q (id %d), want %q", ans.ClientID, ans.ID, cid)
	}
	if err != nil {
		r.fail(err)
		return
	}
	if ans.Replay {
		r.replays.Add(1) // a fresh client_id each time: the platform should never replay one
	}
	r.ack.RecordN(shard, time.Since(due), 1)
	r.check.acked(p, seq)
	r.acked.Add(1)
}

// clientID is the unique client_id of message seq of pair p.
func (r *imRun) clientID(p int, seq int64) string {
	return r.tag + "-" + strconv.Itoa(p) + "-" + strconv.FormatInt(seq, 10)
}

// fail counts a send that was not acknowledged, by HTTP status.
func (r *imRun) fail(err error) {
	key := "transport"
	var ae *apiError
	if errors.As(err, &ae) {
		key = strconv.Itoa(ae.Status)
	}
	r.errMu.Lock()
	r.errs[key]++
	if r.firstErr == "" {
		r.firstErr = err.Error() + imHint(err)
	}
	r.errMu.Unlock()
}

// imHint adds what to do about errors an im run commonly meets.
func imHint(err error) string {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
		return " (rate limited: start the server with -im_chat.rate 0 -gateway.rate_per_ip 0)"
	}
	return hint(err)
}
