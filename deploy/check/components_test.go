package check

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// registryComponents are the component names `zhibo components` lists: the first word of
// each line before the blank line that ends the table.
func registryComponents(t *testing.T, bin string) []string {
	out, err := exec.Command(bin, "components").Output()
	require.NoError(t, err, "zhibo components")
	var names []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			break
		}
		names = append(names, f[0])
	}
	require.NotEmpty(t, names)
	return names
}

// flagValue is the value of -name or --name in args, as "-name value" or "-name=value".
func flagValue(args []string, name string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// Every component of the registry (`zhibo components`) runs in the compose file and in the
// kustomize base, and neither runs a name the registry does not know: a component added to
// zhibo without its deploy files fails here.
func TestEveryComponentIsDeployed(t *testing.T) {
	registry := registryComponents(t, zhiboBinary(t))
	require.ElementsMatch(t, registry, components, "the components the kustomize checks expect are the registry's")

	deployed := func(what string, commands [][]string) {
		got := map[string]bool{}
		for _, args := range commands {
			list := flagValue(args, "components")
			require.NotEmpty(t, list, "%s: %v names its components", what, args)
			for _, c := range strings.Split(list, ",") {
				require.True(t, slices.Contains(registry, c), "%s runs %q, which is no component", what, c)
				got[c] = true
			}
		}
		for _, c := range registry {
			require.True(t, got[c], "%s runs %s", what, c)
		}
	}

	var k8s [][]string
	for _, w := range build(t).workloads() {
		for _, c := range w.template.Spec.Containers {
			k8s = append(k8s, c.Args)
		}
	}
	deployed("the kustomize base", k8s)

	raw, err := os.ReadFile("../compose/compose.yaml")
	require.NoError(t, err)
	var cf struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cf))
	var compose [][]string
	for _, s := range cf.Services {
		if strings.Contains(s.Image, "ZHIBO_IMAGE") && len(s.Command) > 0 && s.Command[0] == "serve" {
			compose = append(compose, s.Command)
		}
	}
	deployed("the compose file", compose)
}
