package bench

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"
)

// ReadStormReport is the outcome of a `hot read` run; its JSON form is the -json file.
type ReadStormReport struct {
	Config       ReadStormConfig `json:"config"`
	Started      time.Time       `json:"started"`
	SetupSeconds float64         `json:"setup_seconds"`
	Seconds      float64         `json:"seconds"` // of the storm
	HotRoom      int64           `json:"hot_room"`
	// Pinned: the hot room was pinned hot through the admin API for the run.
	Pinned bool `json:"pinned"`

	Reads       int64   `json:"reads"` // answered 200
	ReadsPerSec float64 `json:"reads_per_sec"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`

	Hot        ReadClassReport `json:"hot"`
	Background ReadClassReport `json:"background"`

	// Cache is what the server's /metrics say about the storm's reads.
	Cache struct {
		// Mode is "hot-key cache" (in process) or "shared cache" (Redis with client-side caching).
		Mode string `json:"mode"`
		// Memory is reads served from process memory; Store is reads that went to the store
		// (the loader); Shared is reads answered by Redis (shared mode only).
		Memory float64 `json:"memory"`
		Shared float64 `json:"shared,omitempty"`
		Store  float64 `json:"store"`
		// MemoryShare is Memory over all cache reads.
		MemoryShare      float64 `json:"memory_share"`
		StorePerSec      float64 `json:"store_per_sec"`
		RoomReads        float64 `json:"room_reads"`          // zhibo_room_reads_total
		HotKeysAfter     float64 `json:"hot_keys_after"`      // zhibo_hotkey_hot_keys{detector="room"}
		HotFromMemoryMin float64 `json:"hot_from_memory_min"` // lower bound: Memory − background reads, over hot reads
	} `json:"cache"`

	// Probe is the sequential reads of the hot room after the storm and how the cache served
	// them: exact, since nothing else ran.
	Probe struct {
		Reads  int64 `json:"reads"`
		Memory int64 `json:"memory"`
		Store  int64 `json:"store"`
		// Downstream is what the probe's enters cost the components (target enter only).
		Downstream *Downstream `json:"downstream,omitempty"`
	} `json:"probe"`

	// Downstream is what the storm's enters cost the components behind the BFF (target
	// enter only), from the server's counters.
	Downstream *Downstream `json:"downstream,omitempty"`

	CPU struct {
		Server    float64 `json:"server,omitempty"`
		Generator float64 `json:"generator"`
	} `json:"cpu_cores"`
}

// Downstream counts the reads that room pages caused in the components behind the BFF.
type Downstream struct {
	RoomReads     float64 `json:"room_reads"`      // zhibo_room_reads_total
	BFFFromMemory float64 `json:"bff_from_memory"` // zhibo_bff_hot_served_total{module="room"}: pages whose room came from the BFF's memory
	HistoryStore  float64 `json:"history_store"`   // zhibo_danmaku_history_reads_total{source="store"}
	HistoryMemory float64 `json:"history_memory"`  // zhibo_danmaku_history_reads_total{source="memory"}
	RankStore     float64 `json:"rank_store"`      // zhibo_hotkey_cache_misses_total{cache="gift_rank"}
	RankMemory    float64 `json:"rank_memory"`     // zhibo_hotkey_cache_hits_total{cache="gift_rank"}
}

// downstreamReads is the change of the page's downstream counters between two scrapes.
func downstreamReads(before, after Metrics) *Downstream {
	return &Downstream{
		RoomReads:     Delta(before, after, "zhibo_room_reads_total"),
		BFFFromMemory: Delta(before, after, "zhibo_bff_hot_served_total", `module="room"`),
		HistoryStore:  Delta(before, after, "zhibo_danmaku_history_reads_total", `source="store"`),
		HistoryMemory: Delta(before, after, "zhibo_danmaku_history_reads_total", `source="memory"`),
		RankStore:     Delta(before, after, "zhibo_hotkey_cache_misses_total", `cache="gift_rank"`),
		RankMemory:    Delta(before, after, "zhibo_hotkey_cache_hits_total", `cache="gift_rank"`),
	}
}

func (d *Downstream) String() string {
	return fmt.Sprintf("%.0f room reads, %.0f rooms from the BFF's memory; histories %.0f from the store, %.0f from memory; ranks %.0f from the store, %.0f from memory",
		d.RoomReads, d.BFFFromMemory, d.HistoryStore, d.HistoryMemory, d.RankStore, d.RankMemory)
}

// ReadClassReport is the reads of the hot room, or of the background.
type ReadClassReport struct {
	Reads   int64   `json:"reads"`
	PerSec  float64 `json:"per_sec"`
	Latency Latency `json:"latency"`
}

// cacheReads is how a set of reads was served according to the server's counters.
type cacheReads struct {
	mode                  string
	memory, shared, store float64
}

// cacheCounts is the change of the room read-path counters between two scrapes.
func cacheCounts(before, after Metrics) cacheReads {
	if _, ok := after.Sum("zhibo_hotkey_cache_hits_total", `detector="room"`); ok {
		return cacheReads{mode: "hot-key cache",
			memory: Delta(before, after, "zhibo_hotkey_cache_hits_total", `detector="room"`),
			store:  Delta(before, after, "zhibo_hotkey_cache_misses_total", `detector="room"`)}
	}
	return cacheReads{mode: "shared cache",
		memory: Delta(before, after, "zhibo_cache_reads_total", `result="local"`),
		shared: Delta(before, after, "zhibo_cache_reads_total", `result="hit"`),
		store:  Delta(before, after, "zhibo_cache_reads_total", `result="miss"`)}
}

// fill computes the report from the classes and the scrapes around the storm.
func (rep *ReadStormReport) fill(hot, bg *readClass, before, after Metrics) {
	t := max(rep.Seconds, 1e-9)
	class := func(c *readClass) ReadClassReport {
		n := c.reads.Load()
		return ReadClassReport{Reads: n, PerSec: float64(n) / t, Latency: summarize(c.hist)}
	}
	rep.Hot, rep.Background = class(hot), class(bg)
	rep.Reads = rep.Hot.Reads + rep.Background.Reads
	rep.ReadsPerSec = float64(rep.Reads) / t
	c := cacheCounts(before, after)
	rep.Cache.Mode, rep.Cache.Memory, rep.Cache.Shared, rep.Cache.Store = c.mode, c.memory, c.shared, c.store
	if total := c.memory + c.shared + c.store; total > 0 {
		rep.Cache.MemoryShare = c.memory / total
	}
	rep.Cache.StorePerSec = c.store / t
	rep.Cache.RoomReads = Delta(before, after, "zhibo_room_reads_total")
	if rep.Config.Target == TargetEnter {
		rep.Downstream = downstreamReads(before, after)
	}
	rep.Cache.HotKeysAfter, _ = after.Sum("zhibo_hotkey_hot_keys", `detector="room"`)
	if rep.Hot.Reads > 0 {
		rep.Cache.HotFromMemoryMin = max(0, c.memory-float64(rep.Background.Reads)) / float64(rep.Hot.Reads)
	}
}

// WriteTable prints the report as a text table.
func (rep *ReadStormReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := rep.Config
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	target := "closed loop"
	if c.Rate > 0 {
		target = fmt.Sprintf("target %.0f/s", c.Rate)
	}
	path := "GET /api/rooms/{id}"
	if c.Target == TargetEnter {
		path = "GET /api/room/enter?id="
	}
	pinned := ""
	if rep.Pinned {
		pinned = ", pinned hot"
	}
	row("target", "%s %s  (%d rooms: room %d hot%s with %.0f%% of reads, Zipf s=%.2f over the other %d; %d in flight, %s)",
		c.URL, path, c.Rooms, rep.HotRoom, pinned, 100*c.HotShare, c.ZipfS, c.Rooms-1, c.Concurrency, target)
	row("reads", "%d in %.1fs = %s/s, %d errors", rep.Reads, rep.Seconds, human(rep.ReadsPerSec), rep.Errors)
	row("hot room", "%d reads = %s/s  %s", rep.Hot.Reads, human(rep.Hot.PerSec), rep.Hot.Latency)
	row("background", "%d reads = %s/s  %s", rep.Background.Reads, human(rep.Background.PerSec), rep.Background.Latency)
	cc := rep.Cache
	if cc.Mode == "shared cache" {
		row("server cache", "%s: %.0f from process memory (%.1f%%), %.0f from Redis, %.0f from the store = %.0f store reads/s",
			cc.Mode, cc.Memory, 100*cc.MemoryShare, cc.Shared, cc.Store, cc.StorePerSec)
	} else {
		row("server cache", "%s: %.0f from memory (%.1f%%), %.0f read through to the store = %.0f store reads/s; %.0f hot keys at the end",
			cc.Mode, cc.Memory, 100*cc.MemoryShare, cc.Store, cc.StorePerSec, cc.HotKeysAfter)
	}
	if c.Target != TargetEnter { // enters of a page kept by the BFF do not read the room at all
		row("hot room from memory", "≥ %.1f%% during the storm (memory reads − background reads)", 100*cc.HotFromMemoryMin)
	}
	if d := rep.Downstream; d != nil {
		row("downstream", "%s", d)
	}
	if p := rep.Probe; p.Reads > 0 {
		if p.Downstream != nil {
			row("hot room probe", "%d sequential pages after the storm: %s", p.Reads, p.Downstream)
		} else {
			row("hot room probe", "%d sequential reads after the storm: %d from memory, %d from the store", p.Reads, p.Memory, p.Store)
		}
	}
	if c.PID > 0 {
		row("server CPU", "%.2f cores during the storm", rep.CPU.Server)
	}
	row("generator", "%.2f cores during the storm, GOMAXPROCS %d", rep.CPU.Generator, runtime.GOMAXPROCS(0))
	if rep.FirstError != "" {
		row("first error", "%s", rep.FirstError)
	}
	return tw.Flush()
}

// Write prints the table to stdout and writes the JSON file the config names.
func (rep *ReadStormReport) Write(stdout io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	return writeJSONFile(rep.Config.JSON, rep)
}
