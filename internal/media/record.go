package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// recordQueue bounds the FLV tags waiting for one recording's disk writes; a recording whose
// disk falls this far behind the stream stops (a gap would break the file), the stream goes on.
const recordQueue = 4096

// recordExt is the extension of a recording's file; its name before it is the start in unix ms.
const recordExt = ".flv"

// FLVSink receives one publish session's FLV bytes: the FLV header, then every tag
// (metadata, sequence headers, audio and video) in the order the publisher sent them.
// Write must not block the stream; Write and Close are called from one goroutine.
type FLVSink interface {
	Write(b []byte)
	Close()
}

// recorder writes each publish session to <dir>/<room>/<start unix ms>.flv.
type recorder struct {
	dir string
	log *slog.Logger
	m   *metrics

	mu     sync.Mutex
	active map[string]bool // paths being written
	wg     sync.WaitGroup  // writer goroutines
}

func newRecorder(dir string, log *slog.Logger, m *metrics) *recorder {
	return &recorder{dir: dir, log: log, m: m, active: map[string]bool{}}
}

// start is Hooks.Record: the sink of a new publish session, or nil (counted as failed) when
// its file cannot be created.
func (r *recorder) start(room int64, started time.Time) FLVSink {
	r.m.recStarted.Inc()
	dir := filepath.Join(r.dir, strconv.FormatInt(room, 10))
	path := filepath.Join(dir, strconv.FormatInt(started.UnixMilli(), 10)+recordExt)
	f, err := r.create(dir, path)
	if err != nil {
		r.m.recFailed.Inc()
		r.log.Error("recording not started", "room", room, "err", err)
		return nil
	}
	r.mu.Lock()
	r.active[path] = true
	r.mu.Unlock()
	rec := &recording{r: r, room: room, path: path, f: f, ch: make(chan []byte, recordQueue)}
	r.wg.Add(1)
	go rec.run()
	r.log.Info("recording started", "room", room, "path", path)
	return rec
}

func (r *recorder) create(dir, path string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	return f, nil
}

// wait returns when every recording's file is closed (after the engine stopped), or with
// ctx's error when that takes longer.
func (r *recorder) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("media: recordings still open at stop: %w", ctx.Err())
	}
}

// recording is one publish session being written.
type recording struct {
	r      *recorder
	room   int64
	path   string
	f      *os.File
	ch     chan []byte
	failed bool // publisher goroutine: the queue overflowed
}

// Write queues b for the disk; a full queue stops the recording.
func (rec *recording) Write(b []byte) {
	if rec.failed {
		return
	}
	select {
	case rec.ch <- b:
	default:
		rec.failed = true
		close(rec.ch) // run writes what was queued, then counts and logs the failure
	}
}

// Close ends the recording once the queued tags are written.
func (rec *recording) Close() {
	if !rec.failed {
		close(rec.ch)
	}
}

func (rec *recording) run() {
	defer rec.r.wg.Done()
	w := bufio.NewWriterSize(rec.f, 64<<10)
	var err error
	for b := range rec.ch {
		if err != nil {
			continue // drain: the stream never waits on a failed recording
		}
		if _, err = w.Write(b); err != nil {
			rec.fail(err)
			continue
		}
		rec.r.m.recBytes.Add(float64(len(b)))
	}
	if err != nil {
		_ = rec.f.Close()
		return
	}
	if err = w.Flush(); err == nil {
		err = rec.f.Close()
	} else {
		_ = rec.f.Close()
	}
	switch {
	case err != nil:
		rec.fail(err)
	case rec.failed:
		rec.fail(errors.New("the disk fell behind the stream (write queue full)"))
	default:
		rec.done()
		rec.r.log.Info("recording finished", "room", rec.room, "path", rec.path)
	}
}

// fail ends the recording on a disk error: logged and counted, the file keeps what was
// written, the stream goes on.
func (rec *recording) fail(err error) {
	rec.done()
	rec.r.m.recFailed.Inc()
	rec.r.log.Error("recording stopped", "room", rec.room, "path", rec.path, "err", err)
}

func (rec *recording) done() {
	rec.r.mu.Lock()
	delete(rec.r.active, rec.path)
	rec.r.mu.Unlock()
}
