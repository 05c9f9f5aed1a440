// Package flagx has the flag kinds zhibo's settings need beyond the standard library's.
package flagx

import (
	"flag"
	"strings"
)

// Split returns the comma-separated items of v, trimmed, empty ones left out.
func Split(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Strings binds a comma-separated list flag to dst; each use of the flag replaces the list.
func Strings(fs *flag.FlagSet, name, usage string, dst *[]string) {
	fs.Func(name, usage, func(v string) error {
		*dst = Split(v)
		return nil
	})
}
