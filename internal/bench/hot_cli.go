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
)

const readUsage = `Usage: zhibo bench hot read [flags]

A read storm on one room's public page (GET /api/rooms/{id}, or with -target enter the whole
room page, GET /api/room/enter?id=) over a Zipf background on -rooms other rooms, against a
zhibo running on this machine. Reports reads/s, latency of the hot room and of the background
separately, and — from the server's /metrics before and after — how many reads the hot-key
cache served from memory and how many went to the store; with -target enter also the room,
history and rank reads the pages caused downstream and how many pages the BFF served from
memory. -admin_token pins the hot room hot for the run (an admin's token).
Start the server with -gateway.rate_per_ip 0 -account.limits.register_per_ip_hour 0; -account.bcrypt_cost 4 makes creating the
rooms (one anchor user each) quick.

Flags:
`

const giftsUsage = `Usage: zhibo bench hot gifts [flags]

A gift storm on one anchor: -senders users send gifts (POST /api/rooms/{id}/gifts, a unique
idempotency key each) at -rate orders/s for -duration. Reports orders/s, latency and the
anchor score's DB writes per second (aggregation flushes from /metrics) next to the one write
per order an unaggregated design makes, then waits for the score to settle and checks it
equals the sum of the acknowledged orders exactly (exit 1 if not).
Start the server with -gateway.rate_per_ip 0 -account.limits.register_per_ip_hour 0 and a large -gift.initial_balance (e.g.
1000000000): every sender spends rate × duration × price × num / senders coins.

Flags:
`

// hotMain runs "zhibo bench hot read|gifts <flags>".
func hotMain(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "read" && args[0] != "gifts") {
		fmt.Fprint(stderr, readUsage+"\n"+giftsUsage)
		return errors.New("bench hot needs a sub-command: read or gifts")
	}
	fs := flag.NewFlagSet("zhibo bench hot "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rc ReadStormConfig
	var gc GiftStormConfig
	text := readUsage
	if args[0] == "read" {
		rc.RegisterFlags(fs, "")
	} else {
		gc.RegisterFlags(fs, "")
		text = giftsUsage
	}
	fs.Usage = func() { fmt.Fprint(stderr, text); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	deps := Deps{Logger: slog.New(slog.NewTextHandler(stderr, nil)), Progress: stderr}
	if f, ok := stderr.(*os.File); ok {
		deps.Terminal = isTerminal(f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if args[0] == "read" {
		s, err := NewReadStorm(rc, deps)
		if err != nil {
			return err
		}
		rep, err := s.Run(ctx)
		return writeThen(rep, err, stdout)
	}
	g, err := NewGiftStorm(gc, deps)
	if err != nil {
		return err
	}
	rep, err := g.Run(ctx)
	return writeThen(rep, err, stdout)
}

// writeThen prints a report when there is one, then returns the run's error.
func writeThen[R interface{ Write(io.Writer) error }](rep R, err error, stdout io.Writer) error {
	var zero R
	if any(rep) != any(zero) {
		if werr := rep.Write(stdout); werr != nil {
			return werr
		}
	}
	return err
}
