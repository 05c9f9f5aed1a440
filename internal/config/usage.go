package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// parse parses args into fs without printing: -h prints the flags grouped by component to
// out and returns flag.ErrHelp; an unknown flag is one error line naming the closest known
// flag, not the whole list.
func parse(fs *flag.FlagSet, args []string, out io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		Usage(out, fs)
		return err
	}
	const undefined = "flag provided but not defined: -"
	if name, ok := strings.CutPrefix(err.Error(), undefined); ok {
		if near := closest(fs, name); near != "" {
			return fmt.Errorf("unknown flag -%s (did you mean -%s?)", name, near)
		}
		return fmt.Errorf("unknown flag -%s (zhibo config doc lists every setting)", name)
	}
	return err
}

// Usage writes fs's flags grouped by the component (the name's part before the first dot);
// flags without a dot come first, under "general".
func Usage(out io.Writer, fs *flag.FlagSet) {
	groups := map[string][]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		g, _, ok := strings.Cut(f.Name, ".")
		if !ok {
			g = ""
		}
		groups[g] = append(groups[g], f)
	})
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names) // "" (general) sorts first
	fmt.Fprintf(out, "Usage of %s (each flag also reads ZHIBO_<NAME> from the environment; zhibo config doc has them all in one table):\n", fs.Name())
	for _, g := range names {
		title := g
		if title == "" {
			title = "general"
		}
		fmt.Fprintf(out, "\n%s:\n", title)
		for _, f := range groups[g] {
			typ, usage := flag.UnquoteUsage(f)
			line := "  -" + f.Name
			if typ != "" {
				line += " " + typ
			}
			fmt.Fprintf(out, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
			switch {
			case f.DefValue == "" || f.DefValue == "0" || f.DefValue == "false":
			case typ == "string":
				fmt.Fprintf(out, " (default %q)", f.DefValue)
			default:
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(out)
		}
	}
}

// closest returns the defined flag nearest to name by edit distance, or "" when none is
// near enough to be a typo of it.
func closest(fs *flag.FlagSet, name string) string {
	best, bestD := "", -1
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); bestD < 0 || d < bestD {
			best, bestD = f.Name, d
		}
	})
	if bestD < 0 || bestD > max(2, len(name)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
