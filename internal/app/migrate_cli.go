package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

const migrateUsage = `Usage: zhibo migrate status|up [--components=a,b] [flags]

status lists, per component that owns tables, the schema migrations applied to its store
and those still to apply; up applies the missing ones (what a component also does when it
starts). The store of each component is the one it would use with the same flags, file and
environment (<component>.store over store). Without --components: every such component.
`

// migrateCmd is zhibo migrate: schema migrations ahead of a rollout.
func migrateCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "status" && args[0] != "up") {
		fmt.Fprint(stderr, migrateUsage)
		return errors.New("migrate needs a sub-command: status or up")
	}
	up := args[0] == "up"
	var list string
	cfg, rest, err := config.Load("zhibo migrate "+args[0], args[1:], os.Getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&list, "components", "", "comma-separated components whose stores to migrate (empty = every component that owns tables).")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	var names []string
	for _, c := range registry {
		if c.schema != nil && (list == "" || containsName(list, c.Name)) {
			names = append(names, c.Name)
		}
	}
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if c, ok := component(n); !ok || c.schema == nil {
			return fmt.Errorf("%q is not a component that owns tables", n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	open := map[sqlstore.Config]*sqlstore.DB{}
	defer func() {
		for _, db := range open {
			db.Close()
		}
	}()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTORE\tAPPLIED\tPENDING")
	for _, n := range names {
		c, _ := component(n)
		sc := cfg.StoreOf(n)
		db, ok := open[sc]
		if !ok {
			if db, err = sqlstore.Open(ctx, sc, cfg.DataDir); err != nil {
				return fmt.Errorf("%s store: %w", n, err)
			}
			open[sc] = db
		}
		if up {
			if err := db.Migrate(ctx, n, c.schema()); err != nil {
				return err
			}
		}
		applied, pending, err := db.Status(ctx, n, c.schema())
		if err != nil {
			return err
		}
		last := "none"
		if len(applied) > 0 {
			a := applied[len(applied)-1]
			last = fmt.Sprintf("v%d %s", a.Version, a.Name)
		}
		todo := "none"
		if len(pending) > 0 {
			var ps []string
			for _, m := range pending {
				ps = append(ps, fmt.Sprintf("v%d %s", m.Version, m.Name))
			}
			todo = strings.Join(ps, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, storeName(sc), last, todo)
	}
	return tw.Flush()
}

func containsName(list, name string) bool {
	for _, n := range strings.Split(list, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// storeName says which store a component uses, without its password.
func storeName(sc sqlstore.Config) string {
	if sc.Driver != "mysql" {
		if sc.DSN == "" {
			return "sqlite (data_dir)"
		}
		return "sqlite " + sc.DSN
	}
	dsn := sc.DSN
	if at := strings.LastIndex(dsn, "@"); at >= 0 {
		if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
			dsn = dsn[:colon] + ":***" + dsn[at:]
		}
	}
	return "mysql " + dsn
}
