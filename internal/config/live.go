package config

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/room"
)

// LiveKeys are the settings a running process applies when it reloads its config (SIGHUP, a
// change of the config file, `zhibo config reload`), named like their flags. Each component
// lists its own next to the Reload that applies them; the root adds admins, banned words and
// the log level. A reload that changes any other setting is refused whole.
func LiveKeys() []string {
	keys := []string{"admins", "banned_words", "log.level"}
	for prefix, ks := range map[string][]string{
		"gateway.":  gateway.LiveKeys(),
		"account.":  account.LiveKeys(),
		"room.":     room.LiveKeys(),
		"danmaku.":  danmaku.LiveKeys(),
		"gift.":     gift.LiveKeys(),
		"logic.":    logic.LiveKeys(),
		"im_chat.":  chat.LiveKeys(),
		"im_group.": group.LiveKeys(),
	} {
		for _, k := range ks {
			keys = append(keys, prefix+k)
		}
	}
	sort.Strings(keys)
	return keys
}

// IsLive reports whether a running process applies a change of setting key on reload.
func IsLive(key string) bool { return slices.Contains(LiveKeys(), key) }

// Diff lists the settings whose values differ between a and b, named like their flags
// (gateway.rate_per_ip), sorted. A list-valued setting (admins, gift.catalog) is one setting.
// Values are compared, never returned, so the secret does not leak through a diff.
func Diff(a, b Config) ([]string, error) {
	fa, err := flatten(a)
	if err != nil {
		return nil, err
	}
	fb, err := flatten(b)
	if err != nil {
		return nil, err
	}
	var out []string
	for k, va := range fa {
		if vb, ok := fb[k]; !ok || !reflect.DeepEqual(va, vb) {
			out = append(out, k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// flatten renders c as YAML and maps each leaf's dotted path (the flag name) to its value.
func flatten(c Config) (map[string]any, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	settings := map[string]bool{} // a map-valued setting (gateway.upstreams) is one leaf
	var flags Config
	fs, _ := flags.FlagSet("flatten")
	fs.VisitAll(func(f *flag.Flag) { settings[f.Name] = true })
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && !settings[prefix+k] {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", tree)
	return out, nil
}

// Hash identifies the effective config (secret left out) in metrics and logs: the first 12 hex
// digits of the SHA-256 of what `zhibo config print` shows.
func (c Config) Hash() string {
	b, err := c.YAML()
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
