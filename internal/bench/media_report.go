package bench

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// MediaReport is what a media run measured; its JSON form is the -json file.
type MediaReport struct {
	Streams         int     `json:"streams"`
	Viewers         int     `json:"viewers"`
	Seconds         float64 `json:"seconds"`
	FirstFrameP50Ms float64 `json:"first_frame_p50_ms"`
	FirstFrameP99Ms float64 `json:"first_frame_p99_ms"`

	// Added latency: per video frame, its arrival at a viewer minus when the publisher began
	// its socket write (frames from the GOP cache a viewer gets on joining are
	// left out). AddedSamples is how many frames were matched by timestamp.
	AddedSamples uint64  `json:"added_latency_samples"`
	AddedP50Ms   float64 `json:"added_latency_p50_ms"`
	AddedP95Ms   float64 `json:"added_latency_p95_ms"`
	AddedP99Ms   float64 `json:"added_latency_p99_ms"`
	AddedMaxMs   float64 `json:"added_latency_max_ms"`

	// Segment delay (first room, when HLSPollMs > 0): when a new HLS segment was first listed
	// by a playlist poll minus when the publisher wrote the keyframe that closed it. The poll
	// interval adds up to its own length. HLSUnmatched counts segments seen whose closing
	// keyframe could not be identified (not in the figures).
	HLSPollMs         float64        `json:"hls_poll_ms,omitempty"`
	HLSSegments       int            `json:"hls_segments"`
	HLSUnmatched      int            `json:"hls_segments_unmatched"`
	SegmentDelayP50Ms float64        `json:"hls_segment_delay_p50_ms"`
	SegmentDelayP99Ms float64        `json:"hls_segment_delay_p99_ms"`
	SegmentDelayMaxMs float64        `json:"hls_segment_delay_max_ms"`
	SegmentDelays     []MediaSegment `json:"hls_segment_delays,omitempty"`

	Mbps         float64 `json:"delivered_mbit_per_s"`
	Cut          int64   `json:"viewers_cut"`
	NoFrame      int64   `json:"viewers_without_frame"`
	ServerCores  float64 `json:"server_cpu_cores,omitempty"`
	ServerRSSMiB float64 `json:"server_rss_mib,omitempty"`

	// Series is the added latency of each second of play.
	Series []MediaPoint `json:"series"`
}

// MediaPoint is one second of play: the added latency of the frames matched in it.
type MediaPoint struct {
	T          float64 `json:"t"` // seconds since play started
	Samples    uint64  `json:"samples"`
	AddedP50MS float64 `json:"added_latency_p50_ms"`
	AddedP99MS float64 `json:"added_latency_p99_ms"`
}

// MediaSegment is one HLS segment's delay.
type MediaSegment struct {
	T       float64 `json:"t"` // seconds since the playlist poll started, when it was first listed
	DelayMS float64 `json:"delay_ms"`
}

// fillHLS sets the segment-delay figures from the segments the poll saw.
func (rep *MediaReport) fillHLS(seen []seenSegment, sent *sentLog, poll time.Duration, pollStart time.Time) {
	rep.HLSPollMs = ms(poll)
	delays, unmatched := segmentDelays(seen, sent)
	rep.HLSSegments, rep.HLSUnmatched = len(delays), unmatched
	ds := make([]time.Duration, len(delays))
	for i, d := range delays {
		ds[i] = d.delay
		rep.SegmentDelays = append(rep.SegmentDelays, MediaSegment{T: d.listed.Sub(pollStart).Seconds(), DelayMS: ms(d.delay)})
	}
	rep.SegmentDelayP50Ms, rep.SegmentDelayP99Ms = ms(quantile(ds, 0.5)), ms(quantile(ds, 0.99))
	if len(ds) > 0 {
		rep.SegmentDelayMaxMs = ms(ds[len(ds)-1]) // quantile sorted ds
	}
}

// WriteTable prints the summary.
func (rep *MediaReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "streams\t%d × %d HTTP-FLV viewers for %.0fs\n", rep.Streams, rep.Viewers, rep.Seconds)
	fmt.Fprintf(tw, "first frame\tp50 %.1fms  p99 %.1fms\n", rep.FirstFrameP50Ms, rep.FirstFrameP99Ms)
	fmt.Fprintf(tw, "added latency\tp50 %.2fms  p95 %.2fms  p99 %.2fms  max %.2fms  (%d frames; publisher's write → viewer's read)\n",
		rep.AddedP50Ms, rep.AddedP95Ms, rep.AddedP99Ms, rep.AddedMaxMs, rep.AddedSamples)
	if rep.HLSPollMs > 0 {
		fmt.Fprintf(tw, "segment delay\tp50 %.1fms  p99 %.1fms  max %.1fms  (%d segments, %d unmatched; closing keyframe → in the playlist, incl. a %.0fms poll)\n",
			rep.SegmentDelayP50Ms, rep.SegmentDelayP99Ms, rep.SegmentDelayMaxMs, rep.HLSSegments, rep.HLSUnmatched, rep.HLSPollMs)
	}
	fmt.Fprintf(tw, "delivered\t%.1f Mbit/s, %d viewers cut, %d without a frame\n", rep.Mbps, rep.Cut, rep.NoFrame)
	if rep.ServerCores > 0 || rep.ServerRSSMiB > 0 {
		fmt.Fprintf(tw, "server\t%.2f cores, RSS %.0f MiB\n", rep.ServerCores, rep.ServerRSSMiB)
	}
	return tw.Flush()
}

// Write prints the table to stdout and writes the JSON and HTML files named (empty: none).
func (rep *MediaReport) Write(stdout io.Writer, jsonPath, htmlPath string) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if err := writeJSONFile(jsonPath, rep); err != nil {
		return err
	}
	return writeHTMLFile(htmlPath, rep.WriteHTML)
}

// WriteHTML writes a self-contained page: the summary table, the added latency of each second
// and each HLS segment's delay, as inline SVG.
func (rep *MediaReport) WriteHTML(w io.Writer) error {
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		return err
	}
	t := make([]float64, len(rep.Series))
	p50 := make([]float64, len(rep.Series))
	p99 := make([]float64, len(rep.Series))
	for i, p := range rep.Series {
		t[i], p50[i], p99[i] = p.T, p.AddedP50MS, p.AddedP99MS
	}
	st := make([]float64, len(rep.SegmentDelays))
	sd := make([]float64, len(rep.SegmentDelays))
	for i, s := range rep.SegmentDelays {
		st[i], sd[i] = s.T, s.DelayMS
	}
	var seg template.HTML
	if len(sd) > 0 {
		seg = svgChart("HLS segment delay, ms (closing keyframe sent → listed), over seconds of polling", st,
			[]series{{"segment delay", "#9467bd", sd}}, nil)
	}
	data := struct {
		Title    string
		Table    string
		Added    template.HTML
		Segments template.HTML
	}{
		Title: fmt.Sprintf("zhibo bench media — %d streams × %d HTTP-FLV viewers", rep.Streams, rep.Viewers),
		Table: table.String(),
		Added: svgChart("added latency, ms (publisher's socket write → viewer's read), per second", t,
			[]series{{"p99", "#d62728", p99}, {"p50", "#2ca02c", p50}}, nil),
		Segments: seg,
	}
	return mediaPageTmpl.Execute(w, data)
}

var mediaPageTmpl = template.Must(template.New("media").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em;overflow:auto}
svg{display:block;margin:1em 0;background:#fff;border:1px solid #ddd}</style></head>
<body><h1>{{.Title}}</h1><pre>{{.Table}}</pre>{{.Added}}{{.Segments}}</body></html>
`))
