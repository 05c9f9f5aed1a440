// Package flagx has the flag kinds zhibo's settings need beyond the standard library's.
package flagx

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
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

// JSONList binds a flag holding a JSON list of T to dst (unknown fields refused); each use of
// the flag replaces the list. In YAML the same setting is a plain list.
func JSONList[T any](fs *flag.FlagSet, name, usage string, dst *[]T) {
	fs.Var(jsonList[T]{dst}, name, usage)
}

type jsonList[T any] struct{ p *[]T }

func (f jsonList[T]) String() string {
	if f.p == nil || len(*f.p) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(*f.p)
	return string(b)
}

func (f jsonList[T]) Set(s string) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var v []T
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("want a JSON list: %w", err)
	}
	*f.p = v
	return nil
}
