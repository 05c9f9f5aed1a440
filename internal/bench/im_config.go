package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const imUsage = `Usage: zhibo bench im [flags]

Private messages (single chat) against a zhibo running on this machine: registers -users
users, opens each one's own channel (GET /api/channel, then a WebSocket to /sub or raw TCP
joined to room 0), and sends -rate messages/s in total for -duration through
POST /api/im/messages from -senders HTTP workers (each keeps its connection alive).
Users are paired (0↔1, 2↔3, …; an odd last user writes to user 0): every user writes to its
partner, and the messages are spread over the pairs in turn, so every conversation sees
many. A message's text carries its pair, its sequence number in that pair and its scheduled
send time; its client_id is unique.

With -group_share, that share of the users is put in groups of -group_size members instead
(the first member creates the group through POST /api/im/groups): each of them writes to its
group (POST /api/im/groups/{id}/messages), and every other member's channel must receive each
message (IM_GROUP_MSG) exactly once. Start the server with -im_group.rate 0 as well.

With -admin_token (an admin's bearer token), -notice_batch N sends one system notice to the
uid range 1..N on the normal lane when the sends start and follows its progress
(GET /api/admin/notices/{id}), and -notice_high_every D sends a high-priority notice to one of
the run's users every D, each checked to reach that user's channel (IM_NOTICE) exactly once.
Start the server with -im_notice.normal_rate above the rate to measure (the quota caps it).

The schedule is open-loop: message k is due at k/rate whatever the answers, each pair is
sent by one worker, in order, the next only after the previous was answered; latencies are
counted from the due time, so a slow server shows as latency (and "behind"), not as a lower
offered load. Reports offered and acknowledged messages/s, send→acknowledgement latency,
send→receive latency (to the receiver's IM_MSG), errors by HTTP status, and the receivers'
check: every acknowledged message reached its receiver, and the sender's own channel, exactly
once (lost = not received within -drain after the last send), and how many arrived after a
later one of the same pair. Exits 1 when an acknowledged message was lost or duplicated, or a
channel dropped.

Start the server with -gateway.rate_per_ip 0 -account.limits.register_per_ip_hour 0
-im_chat.rate 0 -gateway.max_conns_per_ip 0 -comet.max_conns_per_ip 0, and
-account.bcrypt_cost 4 to register the users quickly.

Flags:
`

// IMConfig is one `zhibo bench im` run.
type IMConfig struct {
	// URL is the platform's HTTP base (loopback only).
	URL string `json:"url"`
	// Users is how many users are registered, each with a channel connection.
	Users int `json:"users"`
	// Rate is messages per second sent in total.
	Rate float64 `json:"rate"`
	// Duration is how long messages are scheduled.
	Duration time.Duration `json:"duration"`
	// Senders is how many HTTP workers send; each owns some pairs and keeps one keep-alive
	// connection. At most one per pair is used.
	Senders int `json:"senders"`
	// Drain is how long to wait after the last send for messages still on their way.
	Drain time.Duration `json:"drain"`
	// SetupTimeout bounds registering the users and opening their channels.
	SetupTimeout time.Duration `json:"setup_timeout"`
	// WSRatio is the share of channels over WebSocket; the rest use raw TCP.
	WSRatio float64 `json:"ws_ratio"`
	// ProtoVer is the protover the channels ask for: 0 plain, 2 zlib, 3 brotli.
	ProtoVer int `json:"protover"`
	// GroupShare is the share of the users put in groups of GroupSize members; the others
	// are paired.
	GroupShare float64 `json:"group_share"`
	GroupSize  int     `json:"group_size"`
	// NoticeBatch, when positive, is the size of a batch notice to the uid range 1..N sent on
	// the normal lane as the sends start; NoticeHighEvery, when positive, how often a
	// high-lane notice goes to one of the run's users. Both need AdminToken.
	NoticeBatch     int           `json:"notice_batch,omitempty"`
	NoticeHighEvery time.Duration `json:"notice_high_every,omitempty"`
	AdminToken      string        `json:"-"`
	// PID, when positive, is the server process whose CPU is read while sending.
	PID int `json:"pid,omitempty"`
	// JSON and HTML are files the report is written to; empty means none.
	JSON string `json:"json,omitempty"`
	HTML string `json:"html,omitempty"`
}

// Bounds of an im run: it stops by itself, and its sockets stay far within 20,000 files.
const (
	imMaxDuration = 2 * time.Minute
	imMaxUsers    = 10_000
	imMaxSenders  = 1000
	imMaxRate     = 100_000
)

// RegisterFlags binds the flags to c with their defaults.
func (c *IMConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "platform HTTP base URL; loopback hosts only (127.0.0.0/8, ::1, localhost).")
	fs.IntVar(&c.Users, "users", 200, "users to register, each with a channel connection, paired 0↔1, 2↔3, … (2..10000).")
	fs.Float64Var(&c.Rate, "rate", 1000, "messages per second in total, open-loop (each due at its time whatever the answers).")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long messages are scheduled (1s..2m).")
	fs.IntVar(&c.Senders, "senders", 64, "HTTP workers, each with one keep-alive connection and its share of the pairs (at most one per pair is used).")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "wait after the last send for messages on their way before counting them lost (0..1m).")
	fs.DurationVar(&c.SetupTimeout, "setup_timeout", time.Minute, "bound on registering the users and opening their channels.")
	fs.Float64Var(&c.WSRatio, "ws_ratio", 1, "share of channels over WebSocket (1 = all, 0 = all raw TCP).")
	fs.IntVar(&c.ProtoVer, "protover", 2, "protover the channels ask for: 0 plain, 2 zlib, 3 brotli.")
	fs.Float64Var(&c.GroupShare, "group_share", 0, "share of the users in groups of -group_size members, each writing to its group (0 = every user paired).")
	fs.IntVar(&c.GroupSize, "group_size", 5, "members of each group, 3..100 (with -group_share).")
	fs.IntVar(&c.NoticeBatch, "notice_batch", 0, "send one system notice to the uid range 1..N on the normal lane as the sends start, and report its recipients/s (0 = none; needs -admin_token).")
	fs.DurationVar(&c.NoticeHighEvery, "notice_high_every", 0, "send a high-priority notice to one of the run's users this often, checked exactly once at its channel (0 = none; needs -admin_token).")
	fs.StringVar(&c.AdminToken, "admin_token", "", "an admin's bearer token, for the notices (POST /api/admin/notices).")
	fs.IntVar(&c.PID, "pid", 0, "server process id whose CPU is read while sending (0 = not measured).")
	fs.StringVar(&c.JSON, "json", "", "write the JSON report to this file (empty = none).")
	fs.StringVar(&c.HTML, "html", "", "write an HTML report with throughput and latency charts to this file (empty = none).")
}

// DefaultIMConfig is the configuration the flags default to.
func DefaultIMConfig() IMConfig {
	var c IMConfig
	c.RegisterFlags(flag.NewFlagSet("im", flag.ContinueOnError))
	return c
}

// Validate checks every field and names the offending one.
func (c *IMConfig) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := CheckLoopbackURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.Users < 2 || c.Users > imMaxUsers {
		add("users %d: want 2..%d", c.Users, imMaxUsers)
	}
	if !(c.Rate > 0 && c.Rate <= imMaxRate) {
		add("rate %v: want (0, %d] messages/s", c.Rate, imMaxRate)
	}
	if c.Duration < time.Second || c.Duration > imMaxDuration {
		add("duration %s: want 1s..%s", c.Duration, imMaxDuration)
	}
	if c.Senders < 1 || c.Senders > imMaxSenders {
		add("senders %d: want 1..%d", c.Senders, imMaxSenders)
	}
	if c.Drain < 0 || c.Drain > time.Minute {
		add("drain %s: want 0..1m", c.Drain)
	}
	if c.SetupTimeout < time.Second || c.SetupTimeout > 10*time.Minute {
		add("setup_timeout %s: want 1s..10m", c.SetupTimeout)
	}
	if !(c.WSRatio >= 0 && c.WSRatio <= 1) {
		add("ws_ratio %v: want 0..1", c.WSRatio)
	}
	if c.ProtoVer != 0 && c.ProtoVer != 2 && c.ProtoVer != 3 {
		add("protover %d: want 0, 2 or 3", c.ProtoVer)
	}
	if !(c.GroupShare >= 0 && c.GroupShare <= 1) {
		add("group_share %v: want 0..1", c.GroupShare)
	} else if c.GroupShare > 0 {
		if c.GroupSize < 3 || c.GroupSize > 100 {
			add("group_size %d: want 3..100", c.GroupSize)
		} else if c.groups() == 0 {
			add("group_share %v of %d users is less than one group of %d", c.GroupShare, c.Users, c.GroupSize)
		}
	}
	if c.NoticeBatch < 0 || c.NoticeBatch > 10_000_000 {
		add("notice_batch %d: want 0..10000000", c.NoticeBatch)
	}
	if c.NoticeHighEvery != 0 && (c.NoticeHighEvery < 10*time.Millisecond || c.NoticeHighEvery > time.Minute) {
		add("notice_high_every %s: want 0 or 10ms..1m", c.NoticeHighEvery)
	}
	if (c.NoticeBatch > 0 || c.NoticeHighEvery > 0) && c.AdminToken == "" {
		add("notice_batch and notice_high_every need -admin_token")
	}
	if c.PID < 0 {
		add("pid %d: want >= 0", c.PID)
	}
	return errors.Join(errs...)
}

// groups is how many groups the users make up.
func (c *IMConfig) groups() int {
	if c.GroupShare <= 0 || c.GroupSize < 1 {
		return 0
	}
	return int(float64(c.Users) * c.GroupShare / float64(c.GroupSize))
}

// imMain runs "zhibo bench im <flags>".
func imMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zhibo bench im", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, imUsage); fs.PrintDefaults() }
	cfg := DefaultIMConfig()
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	deps := Deps{Logger: slog.New(slog.NewTextHandler(stderr, nil)), Progress: stderr}
	if f, ok := stderr.(*os.File); ok {
		deps.Terminal = isTerminal(f)
	}
	b, err := NewIM(cfg, deps)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := b.Run(ctx)
	if rep != nil {
		if werr := rep.Write(stdout); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if !rep.Check.OK() || !rep.Notices.OK() || rep.Conns.Dropped > 0 || rep.Conns.Established < int64(cfg.Users) {
		return ErrLoss
	}
	return nil
}
