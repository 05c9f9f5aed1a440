package app

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is set at build time with -ldflags "-X github.com/zhibo-live/zhibo/internal/app.Version=…";
// a build without it says "dev".
var Version = "dev"

// Revision is the VCS revision, for builds where the Go toolchain does not stamp it (built
// with -buildvcs=false, or outside a checkout): -ldflags "-X …/internal/app.Revision=$(git rev-parse HEAD)".
var Revision = ""

// buildInfo is what `zhibo version` prints and zhibo_build_info labels.
type buildInfo struct {
	Version   string
	Revision  string // VCS revision the binary was built from ("unknown" outside a checkout)
	Time      string // commit time of Revision
	Modified  bool   // the checkout had uncommitted changes
	GoVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

func printVersion(w io.Writer) {
	b := readBuildInfo()
	rev := b.Revision
	if b.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(w, "zhibo %s\nrevision %s", b.Version, rev)
	if b.Time != "" {
		fmt.Fprintf(w, " %s", b.Time)
	}
	fmt.Fprintf(w, "\n%s %s/%s\n", b.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// buildInfoGauge is zhibo_build_info: always 1, labelled with the build.
func buildInfoGauge() prometheus.Collector {
	b := readBuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "zhibo_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
