package hotkey

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// detectorMetrics are built per detector from the injected registerer; with none they still
// exist (so code paths need no nil checks) but nobody collects them.
type detectorMetrics struct {
	hotKeys prometheus.Gauge
}

func constLabels(cfg Config, cacheName string) prometheus.Labels {
	l := prometheus.Labels{}
	if cfg.Name != "" {
		l["detector"] = cfg.Name
	}
	if cacheName != "" {
		l["cache"] = cacheName
	}
	return l
}

func newDetectorMetrics(cfg Config) (detectorMetrics, error) {
	m := detectorMetrics{hotKeys: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   cfg.Namespace,
		Subsystem:   "hotkey",
		Name:        "hot_keys",
		Help:        "Keys currently hot: found by detection or pinned.",
		ConstLabels: constLabels(cfg, ""),
	})}
	return m, register(cfg.Registerer, m.hotKeys)
}

type cacheMetrics struct {
	hits, misses, evictions prometheus.Counter
}

func newCacheMetrics(cfg Config, name string) (cacheMetrics, error) {
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: cfg.Namespace, Subsystem: "hotkey", Name: n, Help: help,
			ConstLabels: constLabels(cfg, name),
		})
	}
	m := cacheMetrics{
		hits:      counter("cache_hits_total", "Cache reads served from memory."),
		misses:    counter("cache_misses_total", "Cache reads that went to the loader (cold key, expired or absent entry)."),
		evictions: counter("cache_evictions_total", "Cache entries dropped because their key cooled off or the cache was full."),
	}
	return m, register(cfg.Registerer, m.hits, m.misses, m.evictions)
}

func register(r prometheus.Registerer, cs ...prometheus.Collector) error {
	if r == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			errs = append(errs, fmt.Errorf("hotkey: register metric: %w", err))
		}
	}
	return errors.Join(errs...)
}
