package room

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/flagx"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
)

// Config of the room component.
type Config struct {
	// Store is where this component keeps its tables; its fields override the shared store
	// section (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// MaxRoomsPerUser is how many rooms one user may own.
	MaxRoomsPerUser int `yaml:"max_rooms_per_user"`
	// PopularityInterval is how often the list order is refreshed from online counts
	// (0 = never: the list then sorts by live status and id only).
	PopularityInterval time.Duration `yaml:"popularity_interval"`
	// MaxListLimit caps ?limit= of the room list.
	MaxListLimit int `yaml:"max_list_limit"`
	// HotThreshold is the audience from which /api/admin/hot lists a room as hot and this
	// component keeps the room's record in memory (within hot_cache_ttl) whatever its reads;
	// each component asking hotroom picks its own threshold.
	HotThreshold int64 `yaml:"hot_threshold"`
	// HotRooms are pinned hot from start, e.g. for an announced event.
	HotRooms []int64 `yaml:"hot_rooms"`
	// HotCacheTTL bounds how stale a hot room read from process memory may be (without Redis;
	// with Redis, writes invalidate hot copies at once).
	HotCacheTTL time.Duration `yaml:"hot_cache_ttl"`
	// HotKeys is the detector of hot room reads.
	HotKeys hotkey.Config `yaml:"hotkeys"`
	// Likes configures POST /api/rooms/{id}/likes and the fold of like counts.
	Likes LikesConfig `yaml:"likes"`
	// CoverMaxBytes is the largest cover image an owner may upload (PUT /api/rooms/{id}/cover),
	// 1 KiB..4 MiB; the re-encoded image may be at most twice that.
	CoverMaxBytes int64 `yaml:"cover_max_bytes"`
	// CoverMaxSide is the largest width and height of an uploaded cover in pixels, checked
	// from the image header before it is decoded (decompression bombs), 16..8192.
	CoverMaxSide int `yaml:"cover_max_side"`
	// CoverHosts are the hosts an external cover URL may point to: https only, no user info,
	// no IP literals, no port; "*.example.com" allows the subdomains of example.com. Empty =
	// uploaded covers only. The web UI's Content-Security-Policy allows images from them.
	CoverHosts []string `yaml:"cover_hosts"`
	// SwitchesRefresh is how often this process reloads the global feature switches from the
	// store, so a switch set through another room process is seen here at most this late.
	SwitchesRefresh time.Duration `yaml:"switches_refresh"`
	// LiveTimeout is how long a room live by its video stays live without media confirming
	// the stream (media confirms every media.live_heartbeat, rooms in their offline grace
	// included); past it the room is set preparing as if the publish had ended, e.g. after
	// the media process was killed. Rooms switched live by hand are never expired. Keep it
	// above media.offline_grace + 2 × media.live_heartbeat, so that an encoder reconnecting
	// to a restarted media process within the grace does not flap. 0 = never expire.
	LiveTimeout time.Duration `yaml:"live_timeout"`
}

// DefaultLiveTimeout is room.live_timeout's default: three of media.live_heartbeat's default
// 5 s and media.offline_grace's default 10 s.
const DefaultLiveTimeout = 25 * time.Second

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	fs.IntVar(&c.MaxRoomsPerUser, prefix+"max_rooms_per_user", 1, "rooms one user may own.")
	fs.DurationVar(&c.PopularityInterval, prefix+"popularity_interval", 2*time.Second, "refresh of the list order from online counts (0 = never).")
	fs.IntVar(&c.MaxListLimit, prefix+"max_list_limit", 50, "largest page of the room list.")
	fs.DurationVar(&c.HotCacheTTL, prefix+"hot_cache_ttl", time.Second, "staleness bound of hot room reads served from memory.")
	c.HotKeys.RegisterFlags(fs, prefix+"hotkeys.")
	c.Likes.RegisterFlags(fs, prefix+"likes.")
	fs.Int64Var(&c.CoverMaxBytes, prefix+"cover_max_bytes", 2<<20, "largest uploaded cover image in bytes, 1 KiB..4 MiB.")
	fs.IntVar(&c.CoverMaxSide, prefix+"cover_max_side", 4096, "largest width and height of an uploaded cover in pixels, checked before decoding, 16..8192.")
	flagx.Strings(fs, prefix+"cover_hosts", "hosts external cover URLs may use, comma-separated: https only, no IP literals; *.example.com allows subdomains (empty = uploaded covers only).", &c.CoverHosts)
	fs.DurationVar(&c.SwitchesRefresh, prefix+"switches_refresh", time.Second, "how often the global feature switches are reloaded from the store (a switch set in another room process is seen this late).")
	fs.DurationVar(&c.LiveTimeout, prefix+"live_timeout", DefaultLiveTimeout, "how long a room live by its video stays live without media confirming the stream (then PREPARING, as at a publish end); above media.offline_grace + 2 × media.live_heartbeat; 0 = never expire.")
	fs.Int64Var(&c.HotThreshold, prefix+"hot_threshold", 1000, "online count from which /api/admin/hot lists a room as hot and its record is kept in memory.")
	fs.Func(prefix+"hot_rooms", "room ids pinned hot from start, comma-separated (e.g. an announced event).", func(v string) error {
		c.HotRooms = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("bad room id %q", s)
			}
			c.HotRooms = append(c.HotRooms, n)
		}
		return nil
	})
}

// LiveKeys are the settings (below the room. prefix) that Reload changes in a running
// service; any other needs a restart.
func LiveKeys() []string { return []string{"hot_rooms", "hot_threshold", "likes.rate", "likes.burst"} }

// Validate checks the config.
func (c *Config) Validate() error {
	if c.MaxRoomsPerUser < 1 {
		return errors.New("room.max_rooms_per_user must be at least 1")
	}
	if c.PopularityInterval < 0 {
		return errors.New("room.popularity_interval must not be negative")
	}
	if c.LiveTimeout < 0 {
		return errors.New("room.live_timeout must not be negative")
	}
	if c.SwitchesRefresh <= 0 {
		return errors.New("room.switches_refresh must be positive")
	}
	if c.HotCacheTTL <= 0 {
		return errors.New("room.hot_cache_ttl must be positive")
	}
	if err := c.HotKeys.Validate(); err != nil {
		return fmt.Errorf("room.hotkeys: %w", err)
	}
	if err := c.Likes.Validate(); err != nil {
		return err
	}
	if c.HotThreshold < 1 {
		return errors.New("room.hot_threshold must be at least 1")
	}
	if c.MaxListLimit < 1 || c.MaxListLimit > 1000 {
		return errors.New("room.max_list_limit must be in 1..1000")
	}
	if c.CoverMaxBytes < 1<<10 || c.CoverMaxBytes > maxCoverBytesLimit {
		return fmt.Errorf("room.cover_max_bytes must be in %d..%d", 1<<10, maxCoverBytesLimit)
	}
	if c.CoverMaxSide < 16 || c.CoverMaxSide > 8192 {
		return errors.New("room.cover_max_side must be in 16..8192")
	}
	return c.validateCovers()
}

// validateCovers checks the cover host allow-list.
func (c *Config) validateCovers() error {
	for _, h := range c.CoverHosts {
		if !validCoverHost(h) {
			return fmt.Errorf("room.cover_hosts %q: want a lower-case DNS name, optionally *.name, no IP address, scheme or port", h)
		}
	}
	return nil
}
