package media

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Codec names of media.codecs.
const (
	CodecH264 = "h264"
	CodecH265 = "h265"
	CodecAAC  = "aac"
)

// knownCodecs are the codecs the ingest can carry through to both playback protocols.
var knownCodecs = []string{CodecH264, CodecH265, CodecAAC}

// DefaultLiveHeartbeat is media.live_heartbeat's default.
const DefaultLiveHeartbeat = 5 * time.Second

// Config of the media component.
type Config struct {
	// RTMPAddr is where encoders (OBS, ffmpeg) publish: rtmp://HOST/live with the room's
	// stream key as the stream name.
	RTMPAddr string `yaml:"rtmp_addr"`
	// MaxConnsPerIP caps the RTMP connections one client address may hold (0 = no cap); the
	// process-wide conns.max_total applies too.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// HandshakeTimeout bounds an RTMP connection from accept to an accepted publish: a client
	// that sends nothing, or never publishes, is closed after it.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// MaxStreams caps the rooms publishing at once; a publish over it is refused.
	MaxStreams int `yaml:"max_streams"`
	// MaxIngestKbps is the largest ingest bitrate of one stream in kbit/s (0 = no limit); a
	// stream over it for BitrateGrace is cut.
	MaxIngestKbps int `yaml:"max_ingest_kbps"`
	// BitrateGrace is how long a stream may stay over MaxIngestKbps, counted in whole seconds
	// each over the limit, before it is cut.
	BitrateGrace time.Duration `yaml:"bitrate_grace"`
	// Codecs are the codecs a publisher may send, of h264, h265 and aac; a stream carrying
	// any other is cut at its first such frame.
	Codecs []string `yaml:"codecs"`
	// OfflineGrace is how long after a publisher goes away the room stays live: an encoder
	// reconnecting within it keeps the room live without a PREPARING / LIVE flap.
	OfflineGrace time.Duration `yaml:"offline_grace"`
	// LiveHeartbeat is how often media confirms to room the rooms it publishes (and those in
	// their offline grace): room sets a room live by its video preparing when no confirmation
	// came for room.live_timeout, so the rooms of a media process that died without ending
	// its streams do not stay live.
	LiveHeartbeat time.Duration `yaml:"live_heartbeat"`
	// KeyCheckInterval is how often the key of every publishing stream is checked again with
	// room, so that a rotated key cuts its publisher also when room runs in another process
	// (in the same process the cut is immediate).
	KeyCheckInterval time.Duration `yaml:"key_check_interval"`
	// GOPCache is how many whole GOPs are kept for a new HTTP-FLV viewer, who starts on the
	// oldest one's keyframe (0 = none: a new viewer waits for the next keyframe).
	GOPCache int `yaml:"gop_cache"`
	// ViewerQueue is how many FLV tags may wait for one slow HTTP-FLV viewer; a viewer that
	// falls further behind is dropped (and counted) so it cannot hold the stream's memory.
	ViewerQueue int `yaml:"viewer_queue"`
	// HLSSegment is the target duration of an HLS segment; segments end on keyframes, so
	// they last at least this and at least one GOP.
	HLSSegment time.Duration `yaml:"hls_segment"`
	// HLSWindow is how many segments the live playlist lists; two more are kept in memory
	// for clients that read the playlist just before it moved on.
	HLSWindow int `yaml:"hls_window"`
	// Record writes every publish session to an FLV file under RecordDir as it arrives,
	// listed for and downloadable by the room's owner (off: nothing is written).
	Record bool `yaml:"record"`
	// RecordDir holds the recordings, one directory per room, one <start unix ms>.flv per
	// publish session (empty = <data_dir>/recordings).
	RecordDir string `yaml:"record_dir"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.RTMPAddr, prefix+"rtmp_addr", ":1935", "RTMP listen address of the ingest (OBS server rtmp://HOST/live, stream key = the room's key).")
	fs.IntVar(&c.MaxConnsPerIP, prefix+"max_conns_per_ip", 16, "RTMP connections one client address may hold (0 = no cap).")
	fs.DurationVar(&c.HandshakeTimeout, prefix+"handshake_timeout", 5*time.Second, "time from an RTMP connect to an accepted publish before the connection is closed.")
	fs.IntVar(&c.MaxStreams, prefix+"max_streams", 64, "rooms publishing at once; a publish over it is refused.")
	fs.IntVar(&c.MaxIngestKbps, prefix+"max_ingest_kbps", 20000, "largest ingest bitrate of one stream in kbit/s (0 = no limit).")
	fs.DurationVar(&c.BitrateGrace, prefix+"bitrate_grace", 5*time.Second, "how long a stream may stay over max_ingest_kbps before it is cut.")
	c.Codecs = slices.Clone(knownCodecs)
	fs.Var((*codecList)(&c.Codecs), prefix+"codecs", "codecs a publisher may send, comma-separated, of h264, h265, aac.")
	fs.DurationVar(&c.OfflineGrace, prefix+"offline_grace", 10*time.Second, "how long a room stays live after its publisher goes away (a reconnect within it does not flap).")
	fs.DurationVar(&c.LiveHeartbeat, prefix+"live_heartbeat", DefaultLiveHeartbeat, "how often the publishing rooms are confirmed to room (room.live_timeout without one sets a room preparing).")
	fs.DurationVar(&c.KeyCheckInterval, prefix+"key_check_interval", time.Second, "how often publishing streams' keys are checked again with room (a rotated key cuts the publisher).")
	fs.IntVar(&c.GOPCache, prefix+"gop_cache", 1, "whole GOPs kept so a new HTTP-FLV viewer starts on a keyframe at once (0 = wait for the next keyframe).")
	fs.IntVar(&c.ViewerQueue, prefix+"viewer_queue", 1024, "FLV tags that may wait for one slow viewer before it is dropped.")
	fs.DurationVar(&c.HLSSegment, prefix+"hls_segment", time.Second, "target HLS segment duration (segments end on keyframes).")
	fs.IntVar(&c.HLSWindow, prefix+"hls_window", 4, "segments listed in the live HLS playlist.")
	fs.BoolVar(&c.Record, prefix+"record", false, "write every publish session to <record_dir>/<room>/<start unix ms>.flv, listed for and downloadable by the room's owner.")
	fs.StringVar(&c.RecordDir, prefix+"record_dir", "", "directory of the recordings (empty = <data_dir>/recordings).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.RTMPAddr == "" {
		errs = append(errs, errors.New("media.rtmp_addr must not be empty"))
	}
	if c.MaxConnsPerIP < 0 {
		errs = append(errs, errors.New("media.max_conns_per_ip must not be negative"))
	}
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, errors.New("media.handshake_timeout must be positive"))
	}
	if c.MaxStreams < 1 {
		errs = append(errs, errors.New("media.max_streams must be at least 1"))
	}
	if c.MaxIngestKbps < 0 {
		errs = append(errs, errors.New("media.max_ingest_kbps must not be negative"))
	}
	if c.MaxIngestKbps > 0 && c.BitrateGrace < time.Second {
		errs = append(errs, errors.New("media.bitrate_grace must be at least 1s"))
	}
	if len(c.Codecs) == 0 {
		errs = append(errs, errors.New("media.codecs must name at least one codec"))
	}
	for _, cd := range c.Codecs {
		if !slices.Contains(knownCodecs, cd) {
			errs = append(errs, fmt.Errorf("media.codecs: unknown codec %q (want any of %s)", cd, strings.Join(knownCodecs, ", ")))
		}
	}
	if c.OfflineGrace < 0 {
		errs = append(errs, errors.New("media.offline_grace must not be negative"))
	}
	if c.LiveHeartbeat <= 0 {
		errs = append(errs, errors.New("media.live_heartbeat must be positive"))
	}
	if c.KeyCheckInterval <= 0 {
		errs = append(errs, errors.New("media.key_check_interval must be positive"))
	}
	if c.GOPCache < 0 || c.GOPCache > 8 {
		errs = append(errs, errors.New("media.gop_cache must be in 0..8"))
	}
	if c.ViewerQueue < 16 {
		errs = append(errs, errors.New("media.viewer_queue must be at least 16"))
	}
	if c.HLSSegment < 100*time.Millisecond {
		errs = append(errs, errors.New("media.hls_segment must be at least 100ms"))
	}
	if c.HLSWindow < 2 || c.HLSWindow > 30 {
		errs = append(errs, errors.New("media.hls_window must be in 2..30"))
	}
	return errors.Join(errs...)
}

// codecList is media.codecs as a flag: comma-separated names, lower-cased.
type codecList []string

func (l *codecList) String() string { return strings.Join(*l, ",") }

func (l *codecList) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(strings.ToLower(s)); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
