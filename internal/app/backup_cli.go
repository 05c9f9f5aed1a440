package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

const backupUsage = `Usage: zhibo backup -out DIR [flags]

Copies what a node keeps on disk into the new directory DIR while the node runs: each SQLite
store its components use (a consistent snapshot, as of one moment) and the signing key
(<data_dir>/secret). The flags, file and environment are the node's, so the same stores are
found. MySQL stores are skipped with a note (back them up with mysqldump or mariadb-backup).
Restore: stop the node, put the files back in its data_dir (removing any zhibo.db-wal and
zhibo.db-shm beside them), start it. docs/operations.md, "Backup and restore".
`

// backupCmd is zhibo backup.
func backupCmd(args []string, stdout, stderr io.Writer) error {
	var out string
	cfg, rest, err := config.Load("zhibo backup", args, os.Getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "", "new directory the backup is written to (required; must not exist).")
	})
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, backupUsage)
	}
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	if out == "" {
		return errors.New("backup needs -out DIR")
	}
	if err := os.Mkdir(out, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	done := map[sqlstore.Config]string{}
	for _, c := range registry {
		if c.schema == nil {
			continue
		}
		sc := cfg.StoreOf(c.Name)
		if sc.Driver == "mysql" {
			fmt.Fprintf(stdout, "%-8s skipped: MySQL store (use mysqldump or mariadb-backup)\n", c.Name)
			continue
		}
		if file, ok := done[sc]; ok {
			fmt.Fprintf(stdout, "%-8s in %s\n", c.Name, file)
			continue
		}
		src := sc.DSN
		if src == "" {
			src = filepath.Join(cfg.DataDir, "zhibo.db")
		}
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("backup %s store: %w", c.Name, err)
		}
		db, err := sqlstore.Open(ctx, sc, cfg.DataDir)
		if err != nil {
			return fmt.Errorf("backup %s store: %w", c.Name, err)
		}
		name := filepath.Base(src)
		start := time.Now()
		err = db.BackupTo(ctx, filepath.Join(out, name))
		db.Close()
		if err != nil {
			return err
		}
		done[sc] = name
		fmt.Fprintf(stdout, "%-8s in %s (%s, %s)\n", c.Name, name, src, time.Since(start).Round(time.Millisecond))
	}
	if cfg.Secret == "" {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, "secret"))
		switch {
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintln(stdout, "secret   none in data_dir (not generated yet)")
		case err != nil:
			return fmt.Errorf("backup secret: %w", err)
		default:
			if err := os.WriteFile(filepath.Join(out, "secret"), b, 0o600); err != nil {
				return fmt.Errorf("backup secret: %w", err)
			}
			fmt.Fprintln(stdout, "secret   in secret")
		}
	} else {
		fmt.Fprintln(stdout, "secret   set in the config, not in data_dir: keep the config")
	}
	fmt.Fprintf(stdout, "backup written to %s\n", out)
	return nil
}
