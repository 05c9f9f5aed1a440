package media

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/q191201771/naza/pkg/nazalog"
)

// lal logs through one process-wide logger (nazalog's global, which every lal package holds),
// so this bridge is the one piece of package state here: it cannot be per service. It is set
// up once, with no file and no stdout, and sends each line to the slog logger of the media
// service started last. Lines go one level below ours: the library's info and warnings
// (every handshake, every malformed message) are debug lines; its errors are info lines.
// The component logs the events that matter (publish, refusal, cut) itself.
var lalLog struct {
	once sync.Once
	to   atomic.Pointer[slog.Logger]
}

// bridgeLalLog routes lal's logging to l.
func bridgeLalLog(l *slog.Logger) {
	lalLog.to.Store(l)
	lalLog.once.Do(func() {
		level := nazalog.LevelError
		if l.Enabled(context.Background(), slog.LevelDebug) {
			level = nazalog.LevelInfo // never lal's per-packet debug and trace lines
		}
		_ = nazalog.Init(func(o *nazalog.Option) {
			o.Level = level
			o.Filename = ""
			o.IsToStdout = false
			o.IsRotateDaily = false
			o.IsRotateHourly = false
			o.TimestampFlag = false
			o.LevelFlag = false
			o.ShortFileFlag = true
			o.AssertBehavior = nazalog.AssertError
			o.HookBackendOutFn = func(lv nazalog.Level, line []byte) {
				to := lalLog.to.Load()
				if to == nil {
					return
				}
				sl := slog.LevelDebug
				if lv >= nazalog.LevelError {
					sl = slog.LevelInfo
				}
				if to.Enabled(context.Background(), sl) {
					to.Log(context.Background(), sl, "lal", "line", strings.TrimSpace(string(line)))
				}
			}
		})
	})
}
