package app

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Permissions of the data directory and what it holds: password hashes, stream keys, the
// token secret and every queued message are the owner's alone.
const (
	dataDirPerm  fs.FileMode = 0o700
	dataFilePerm fs.FileMode = 0o600
)

// ownsDataDir reports whether this process keeps anything in its data directory: the SQLite
// database, the embedded queue's store or the generated token secret.
func (a *App) ownsDataDir() bool {
	sqlite := a.needs(func(c Component) bool {
		sc := a.cfg.StoreOf(c.Name)
		return c.Store && sc.Driver != "mysql" && sc.DSN == ""
	})
	embeddedQueue := a.cfg.Queue.URL == "" && a.needs(func(c Component) bool { return c.Queue })
	generatedSecret := a.cfg.Secret == "" && a.needs(func(c Component) bool { return c.Key })
	return sqlite || embeddedQueue || generatedSecret
}

// privateDataDir creates dir owner-only, or takes group and other permissions away from it
// and from everything in it when an older version (or a loose umask) left them open, with a
// warning naming how many entries it changed.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, dataDirPerm); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	var fixed []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // chmod would follow it out of the data dir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return err
			}
			fixed = append(fixed, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("make data dir private: %w", err)
	}
	if len(fixed) > 0 {
		log.Warn("data dir was readable by group or others: permissions removed", "dir", dir,
			"entries", len(fixed), "first", fixed[0])
	}
	return nil
}
