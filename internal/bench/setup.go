package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// prepare derives the addresses and raises the open-file limit.
func (r *run) prepare(ctx context.Context, rep *Report) error {
	u, err := url.Parse(r.cfg.URL)
	if err != nil {
		return err
	}
	host := u.Hostname()
	dialHost := host
	if dialHost == "localhost" {
		dialHost = "127.0.0.1"
	}
	wsScheme := "ws"
	if u.Scheme == "https" {
		wsScheme = "wss"
	}
	r.wsURL = wsScheme + "://" + net.JoinHostPort(dialHost, u.Port()) + "/sub"
	if u.Port() == "" {
		r.wsURL = wsScheme + "://" + dialHost + "/sub"
	}
	r.sources = sourceAddrs(r.cfg.Sources, r.cfg.Conns, net.ParseIP(dialHost))
	r.senders = r.cfg.Senders
	if r.senders == 0 {
		per := r.cfg.SenderRate
		if r.cfg.Queue != "" {
			per = max(per, 100)
		}
		r.senders = int(math.Ceil(r.cfg.Rate / per))
	}
	r.senders = max(r.senders, r.cfg.Rooms)
	if r.cfg.Rate == 0 {
		r.senders = 0 // idle: nobody sends
	}
	if r.cfg.Queue == "" && r.cfg.Rate > 0 && r.cfg.Rate/float64(r.senders) > r.cfg.SenderRate*1.0001 {
		return fmt.Errorf("senders %d at sender_rate %v cannot reach rate %v", r.senders, r.cfg.SenderRate, r.cfg.Rate)
	}
	note, err := raiseFileLimit(uint64(r.cfg.Conns + r.cfg.Slow + r.senders + 64))
	if err != nil {
		return err
	}
	if note != "" {
		rep.Notes = append(rep.Notes, note)
		r.log.Info(note)
	}
	tr := &http.Transport{MaxIdleConns: r.senders + 64, MaxIdleConnsPerHost: r.senders + 64, IdleConnTimeout: time.Minute}
	r.api = &apiClient{base: u.Scheme + "://" + u.Host, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	r.tag = "zb" + hex.EncodeToString(tag[:])
	return ctx.Err()
}

// setup registers the anchors and senders, starts the rooms and fetches their viewers'
// guest tokens.
func (r *run) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SetupTimeout)
	defer cancel()
	r.rooms = make([]benchRoom, r.cfg.Rooms)
	r.sendersList = make([]*sender, r.senders)
	users := r.cfg.Rooms
	if r.cfg.Queue == "" {
		users += r.senders
	}
	jobs := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(users, 8) {
		wg.Go(func() {
			for i := range jobs {
				if err := r.setupOne(ctx, i); err != nil {
					select {
					case errc <- err:
					default:
					}
					cancel()
				}
			}
		})
	}
	for i := range users {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("set-up: %w%s", err, hint(err))
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	for i := range r.sendersList {
		if r.sendersList[i] == nil {
			r.sendersList[i] = &sender{id: i, room: i % r.cfg.Rooms}
		}
	}
	r.phase.Store("tokens")
	if err := r.fetchTokens(ctx); err != nil {
		return fmt.Errorf("set-up: %w%s", err, hint(err))
	}
	return nil
}

// viewersPerRoom is the most ordinary viewers one room has (viewer i is in room i mod rooms).
func (r *run) viewersPerRoom() int { return (r.cfg.Conns + r.cfg.Rooms - 1) / r.cfg.Rooms }

// token is the guest token of the ord-th viewer of room k; slow viewers come after the
// ordinary ones (ord >= viewersPerRoom).
func (r *run) token(k, ord int) string {
	return r.rooms[k].tokens[ord/r.cfg.ConnsPerToken]
}

// tokenFetchers is how many danmu-info requests set-up has in flight.
const tokenFetchers = 32

// fetchTokens gets every room's guest tokens from danmu-info, one per conns_per_token
// viewers (the server admits at most logic.max_conns_per_token connections per token, and
// counts a guest token as one viewer), with tokenFetchers requests in flight; the monitor
// shows the progress.
func (r *run) fetchTokens(ctx context.Context) error {
	slowPerRoom := (r.cfg.Slow + r.cfg.Rooms - 1) / r.cfg.Rooms
	perRoom := (r.viewersPerRoom() + slowPerRoom + r.cfg.ConnsPerToken - 1) / r.cfg.ConnsPerToken
	for k := range r.rooms {
		r.rooms[k].tokens = make([]string, perRoom)
	}
	r.tokensWant.Store(int64(perRoom * len(r.rooms)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan [2]int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(tokenFetchers, perRoom*len(r.rooms)) {
		wg.Go(func() {
			for j := range jobs {
				info, err := r.api.danmuInfo(ctx, r.rooms[j[0]].id)
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					cancel()
					continue
				}
				r.rooms[j[0]].tokens[j[1]] = info.Token
				r.tokensGot.Add(1)
			}
		})
	}
feed:
	for t := range perRoom {
		for k := range r.rooms {
			select {
			case jobs <- [2]int{k, t}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("guest tokens: %w", err)
	default:
	}
	return ctx.Err()
}

// setupOne prepares room i (i < rooms) or sender i-rooms.
func (r *run) setupOne(ctx context.Context, i int) error {
	if i >= r.cfg.Rooms {
		id := i - r.cfg.Rooms
		s, err := r.api.register(ctx, r.tag+"s"+strconv.Itoa(id))
		if err != nil {
			return err
		}
		r.sendersList[id] = &sender{id: id, room: id % r.cfg.Rooms, token: s.Token}
		return nil
	}
	anchor, err := r.api.register(ctx, r.tag+"a"+strconv.Itoa(i))
	if err != nil {
		return err
	}
	id, err := r.api.liveRoom(ctx, anchor, "bench "+r.tag+" #"+strconv.Itoa(i))
	if err != nil {
		return err
	}
	info, err := r.api.danmuInfo(ctx, id)
	if err != nil {
		return err
	}
	r.rooms[i] = benchRoom{id: id} // its tokens are fetched once every room exists (fetchTokens)
	if i == 0 {
		return r.hosts(info)
	}
	return nil
}

// hosts takes the comets to connect to from danmu-info's host list, as a client does: viewer
// i uses entry i mod n, so a cluster's comets share the viewers. Every entry is dialled on
// the host of -url (the bench sends to this machine only); an entry without a WebSocket port
// uses -url's, and -tcp_addr replaces the raw TCP addresses.
func (r *run) hosts(info danmuInfo) error {
	u, _ := url.Parse(r.wsURL)
	for _, h := range info.HostList {
		if h.WSPort > 0 {
			r.wsURLs = append(r.wsURLs, u.Scheme+"://"+net.JoinHostPort(u.Hostname(), strconv.Itoa(h.WSPort))+"/sub")
		}
		if h.Port > 0 {
			r.tcpAddrs = append(r.tcpAddrs, net.JoinHostPort(u.Hostname(), strconv.Itoa(h.Port)))
		}
	}
	if len(r.wsURLs) == 0 {
		r.wsURLs = []string{r.wsURL}
	}
	if r.cfg.TCPAddr != "" {
		r.tcpAddrs = []string{r.cfg.TCPAddr}
	}
	if len(r.tcpAddrs) == 0 && r.cfg.WSRatio < 1 {
		return errors.New("danmu-info announces no raw TCP port: pass -tcp_addr or use -ws")
	}
	return nil
}
