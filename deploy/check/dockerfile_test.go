package check

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct{ op, args string }

// stages splits the Dockerfile at the repository root into its build stages.
func stages(t *testing.T) [][]instruction {
	raw, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(raw), " ")
	var out [][]instruction
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, args, _ := strings.Cut(line, " ")
		op = strings.ToUpper(op)
		if op == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], instruction{op, strings.TrimSpace(args)})
		}
	}
	return out
}

func find(stage []instruction, op string) []string {
	var out []string
	for _, in := range stage {
		if in.op == op {
			out = append(out, in.args)
		}
	}
	return out
}

// The Dockerfile keeps what it promises: a build stage that runs scripts/build.sh (the
// script CI runs) with VERSION and REVISION from build arguments, and a final stage that is
// not the Go image, copies only the binary, runs as a non-root user, has a HEALTHCHECK on
// /healthz and starts zhibo. The build context keeps the sources and leaves out .git.
func TestDockerfile(t *testing.T) {
	st := stages(t)
	require.GreaterOrEqual(t, len(st), 2, "multi-stage")
	build, final := st[0], st[len(st)-1]

	require.Regexp(t, `^golang:`, find(build, "FROM")[0])
	args := strings.Join(find(build, "ARG"), " ")
	require.Contains(t, args, "VERSION")
	require.Contains(t, args, "REVISION")
	runs := strings.Join(find(build, "RUN"), "\n")
	require.Regexp(t, `VERSION="\$VERSION" REVISION="\$REVISION" scripts/build\.sh`, runs)

	require.NotRegexp(t, `^golang:`, find(final, "FROM")[0], "the final image is not the Go toolchain")
	copies := find(final, "COPY")
	require.Len(t, copies, 1)
	require.Regexp(t, `^--from=build /out/zhibo `, copies[0])
	users := find(final, "USER")
	require.Len(t, users, 1)
	user, _, _ := strings.Cut(users[0], ":")
	require.NotContains(t, []string{"0", "root"}, user, "non-root")
	hc := find(final, "HEALTHCHECK")
	require.Len(t, hc, 1)
	require.Contains(t, hc[0], "http://127.0.0.1:8080/healthz")
	require.Equal(t, []string{`["zhibo"]`}, find(final, "ENTRYPOINT"))

	script, err := os.ReadFile("../../scripts/build.sh")
	require.NoError(t, err)
	require.Contains(t, string(script), "CGO_ENABLED=0")
	require.Contains(t, string(script), "-X $pkg.Version=$VERSION -X $pkg.Revision=")

	ignore, err := os.ReadFile("../../.dockerignore")
	require.NoError(t, err)
	var ignored []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			ignored = append(ignored, l)
		}
	}
	require.Contains(t, ignored, ".git")
	for _, need := range []string{"go.mod", "go.sum", "cmd", "internal", "pkg", "api", "web", "scripts"} {
		require.NotContains(t, ignored, need, "the build needs %s", need)
	}
}
