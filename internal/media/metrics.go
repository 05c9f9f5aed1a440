package media

import "github.com/prometheus/client_golang/prometheus"

// Refusal and cut reasons: fixed label values.
const (
	reasonNoKey   = "no_key"   // publish without a stream name
	reasonBadKey  = "bad_key"  // no room has that key (wrong, or rotated away)
	reasonApp     = "app"      // an application other than "live"
	reasonBusy    = "busy"     // the room already has a publisher
	reasonLimit   = "limit"    // media.max_streams reached
	reasonRoom    = "room"     // room could not be asked (unavailable)
	reasonPlay    = "play"     // RTMP playback, which is not offered
	reasonRotated = "rotated"  // the key was rotated while publishing
	reasonBitrate = "bitrate"  // over media.max_ingest_kbps for media.bitrate_grace
	reasonCodec   = "codec"    // a codec outside media.codecs
	reasonStop    = "shutdown" // the process stops
)

type metrics struct {
	streams     prometheus.Gauge
	publishes   prometheus.Counter
	refused     *prometheus.CounterVec
	cut         *prometheus.CounterVec
	viewers     *prometheus.GaugeVec
	ingest      prometheus.Counter
	out         *prometheus.CounterVec
	dropped     prometheus.Counter
	rtmpErrs    prometheus.Counter
	liveErrs    prometheus.Counter
	confirmErrs prometheus.Counter

	recStarted prometheus.Counter
	recFailed  prometheus.Counter
	recBytes   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zhibo_media_streams",
			Help: "Rooms publishing video now; each stream has exactly one publisher."}),
		publishes: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_publishes_total",
			Help: "Publishes accepted."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_media_publish_refused_total",
			Help: "Publishes (and RTMP plays) refused, by reason: no_key, bad_key, app, busy, limit, room, play, shutdown."}, []string{"reason"}),
		cut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_media_publishers_cut_total",
			Help: "Publishers cut while publishing, by reason: rotated, bitrate, codec, shutdown."}, []string{"reason"}),
		viewers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zhibo_media_viewers",
			Help: "Video viewers now by protocol (flv: open responses; hls: clients that read a playlist within the last few segments)."}, []string{"protocol"}),
		ingest: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_ingest_bytes_total",
			Help: "Audio, video and metadata payload bytes received from publishers."}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_media_out_bytes_total",
			Help: "Bytes written to viewers by protocol."}, []string{"protocol"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_viewers_dropped_total",
			Help: "HTTP-FLV viewers dropped for falling media.viewer_queue tags behind."}),
		rtmpErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_rtmp_faults_total",
			Help: "RTMP connections ended by a fault in the library while handling their bytes (recovered; other connections are unaffected)."}),
		liveErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_live_status_errors_total",
			Help: "Live status changes room did not take after retries."}),
		confirmErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_live_confirm_errors_total",
			Help: "Confirmations of the publishing rooms (every media.live_heartbeat) room did not take."}),
		recStarted: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_recordings_started_total",
			Help: "Publish sessions media.record began to record."}),
		recFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_recordings_failed_total",
			Help: "Recordings stopped by a disk error or a disk too slow for the stream, or never started (the stream went on)."}),
		recBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_media_recorded_bytes_total",
			Help: "Bytes written to recordings."}),
	}
	reg.MustRegister(m.streams, m.publishes, m.refused, m.cut, m.viewers, m.ingest, m.out, m.dropped, m.rtmpErrs, m.liveErrs,
		m.confirmErrs, m.recStarted, m.recFailed, m.recBytes)
	return m
}
