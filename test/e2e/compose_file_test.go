package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/zhibo-live/zhibo/test/testbin"
)

// composeDir is deploy/compose, seen from this package's directory.
const composeDir = "../../deploy/compose"

// composeFile is the part of deploy/compose/compose.yaml the tests read; compose keys the
// tests do not need are ignored.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Deploy struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

// zhibo tells the services that run the zhibo image.
func (s composeService) zhibo() bool {
	return strings.HasPrefix(s.Image, "zhibo:") && len(s.Command) > 0 && s.Command[0] == "serve"
}

// replicas is how many containers compose runs of the service.
func (s composeService) replicas() int { return max(s.Deploy.Replicas, 1) }

// components is the service's -components value.
func (s composeService) components() string {
	for i, a := range s.Command {
		if (a == "-components" || a == "--components") && i+1 < len(s.Command) {
			return s.Command[i+1]
		}
	}
	return ""
}

// mounts maps each file mounted into the service's container to the file of the repository
// it comes from (./x paths are relative to deploy/compose).
func (s composeService) mounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
			out[parts[1]] = filepath.Join(composeDir, parts[0])
		}
	}
	return out
}

// published maps each host port a service publishes ("8081:8080") to its container port.
func (s composeService) published(t testing.TB) map[string]string {
	out := map[string]string{}
	for _, p := range s.Ports {
		host, container, ok := strings.Cut(p, ":")
		require.True(t, ok, "port %q: want host:container", p)
		out[host] = container
	}
	return out
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate expands ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message} and
// ${VAR?message} as compose does, from vars; a missing required variable fails t.
func interpolate(t testing.TB, text string, vars map[string]string) string {
	return interpolation.ReplaceAllStringFunc(text, func(m string) string {
		g := interpolation.FindStringSubmatch(m)
		v, set := vars[g[1]]
		switch g[2] {
		case ":-":
			if v == "" {
				return g[3]
			}
		case "-":
			if !set {
				return g[3]
			}
		case ":?", "?":
			if !set || (g[2] == ":?" && v == "") {
				t.Fatalf("compose: %s is required: %s", g[1], g[3])
			}
		}
		return v
	})
}

// readEnvFile reads KEY=VALUE lines (deploy/compose/env.example), skipping comments.
func readEnvFile(t testing.TB, path string) map[string]string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: bad line %q", path, line)
		vars[k] = v
	}
	require.NoError(t, sc.Err())
	return vars
}

// loadCompose reads deploy/compose/compose.yaml with vars for its ${…} references.
func loadCompose(t testing.TB, vars map[string]string) composeFile {
	raw, err := os.ReadFile(filepath.Join(composeDir, "compose.yaml"))
	require.NoError(t, err)
	var cf composeFile
	require.NoError(t, yaml.Unmarshal([]byte(interpolate(t, string(raw), vars)), &cf))
	require.NotEmpty(t, cf.Services)
	return cf
}

// zhiboEnv is the environment of a zhibo process started from a service: this process's
// environment without any ZHIBO_ setting, plus the service's own.
func zhiboEnv(service map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZHIBO_") {
			env = append(env, kv)
		}
	}
	for k, v := range service {
		env = append(env, k+"="+v)
	}
	return env
}

// The compose file parses, names every component and the engines, and every zhibo service's
// command is one `zhibo config check` accepts with that service's flags, environment and
// mounted config files (--components included: every peer it needs is named). The published
// ports are the ones the README beside it documents.
func TestComposeFileChecks(t *testing.T) {
	vars := readEnvFile(t, filepath.Join(composeDir, "env.example"))
	cf := loadCompose(t, vars)
	bin := testbin.Build(t)
	readme, err := os.ReadFile(filepath.Join(composeDir, "README.md"))
	require.NoError(t, err)

	for _, engine := range []string{"mariadb", "redis", "nats"} {
		require.Contains(t, cf.Services, engine)
	}
	count := map[string]int{}
	for name, s := range cf.Services {
		for host := range s.published(t) {
			require.Regexp(t, "`"+host+"`", string(readme), "published port %s of %s is documented", host, name)
		}
		if !s.zhibo() {
			continue
		}
		count[s.components()] += s.replicas()
		mounts := s.mounts()
		args := []string{"config", "check"}
		for _, a := range s.Command[1:] {
			if repo, ok := mounts[a]; ok {
				_, err := os.Stat(repo)
				require.NoError(t, err, "%s mounts %s", name, repo)
				a = repo
			}
			args = append(args, a)
		}
		require.Contains(t, args, "-config", "%s reads its role's config file", name)
		cmd := exec.Command(bin, args...)
		cmd.Env = zhiboEnv(s.Environment)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: zhibo %s: %s", name, strings.Join(args, " "), out)
		require.Equal(t, "config ok\n", string(out), name)
	}
	require.Equal(t, map[string]int{"account": 1, "room": 1, "gift": 1, "danmaku": 1, "logic": 1, "comet": 2, "job": 2, "bff": 1, "media": 1,
		"im-chat": 1, "im-group": 1, "im-notice": 1, "gateway": 1},
		count, "each component its own service, two comets, two jobs")
}

// TestComposeInterpolation pins the ${…} forms the compose file uses.
func TestComposeInterpolation(t *testing.T) {
	vars := map[string]string{"A": "a", "E": ""}
	for in, want := range map[string]string{"${A}": "a", "${A:-x}": "a", "${E:-x}": "x", "${E-x}": "", "${N-x}": "x",
		"${N:-x}:1": "x:1", "${A:?need A}": "a", "p${A}q${E}r": "paqr"} {
		require.Equal(t, want, interpolate(t, in, vars), in)
	}
}
