package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// components are the roles of a split zhibo, every component of the registry
// (TestEveryComponentIsDeployed); each must have exactly one workload.
var components = []string{"account", "room", "gift", "danmaku", "logic", "comet", "job", "bff", "media",
	"im-chat", "im-group", "im-notice", "gateway"}

// autoscaled are the components the base scales horizontally.
var autoscaled = []string{"account", "room", "gift", "danmaku", "comet", "job", "bff", "im-chat", "im-group", "im-notice"}

// base is everything the kustomize base builds, decoded into the Kubernetes API types.
type base struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	services     []corev1.Service
	configMaps   []corev1.ConfigMap
	secrets      []corev1.Secret
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	pdbs         []policyv1.PodDisruptionBudget
}

// workload is a Deployment or a StatefulSet, as far as the checks go.
type workload struct {
	kind, name string
	selector   map[string]string
	template   corev1.PodTemplateSpec
}

func (b *base) workloads() []workload {
	var out []workload
	for _, d := range b.deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	for _, s := range b.statefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector.MatchLabels, s.Spec.Template})
	}
	return out
}

// strict decodes one object's JSON into out, refusing any field the type does not have.
func strict(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

// build runs kustomize on deploy/k8s (the kustomize API of the pinned kustomize/v5) and
// decodes every object strictly; an object of a kind the base should not have fails.
func build(t *testing.T) *base { return buildDir(t, "../k8s") }

// buildDir is build on the kustomization in dir.
func buildDir(t *testing.T, dir string) *base {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	b := &base{}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		require.NoError(t, err)
		raw, err := yaml.YAMLToJSON(y)
		require.NoError(t, err)
		gvk := r.GetGvk()
		what := fmt.Sprintf("%s/%s %s", gvk.Group, gvk.Kind, r.GetName())
		var into any
		switch gvk.ApiVersion() + " " + gvk.Kind {
		case "apps/v1 Deployment":
			b.deployments = append(b.deployments, appsv1.Deployment{})
			into = &b.deployments[len(b.deployments)-1]
		case "apps/v1 StatefulSet":
			b.statefulSets = append(b.statefulSets, appsv1.StatefulSet{})
			into = &b.statefulSets[len(b.statefulSets)-1]
		case "v1 Service":
			b.services = append(b.services, corev1.Service{})
			into = &b.services[len(b.services)-1]
		case "v1 ConfigMap":
			b.configMaps = append(b.configMaps, corev1.ConfigMap{})
			into = &b.configMaps[len(b.configMaps)-1]
		case "v1 Secret":
			b.secrets = append(b.secrets, corev1.Secret{})
			into = &b.secrets[len(b.secrets)-1]
		case "autoscaling/v2 HorizontalPodAutoscaler":
			b.hpas = append(b.hpas, autoscalingv2.HorizontalPodAutoscaler{})
			into = &b.hpas[len(b.hpas)-1]
		case "policy/v1 PodDisruptionBudget":
			b.pdbs = append(b.pdbs, policyv1.PodDisruptionBudget{})
			into = &b.pdbs[len(b.pdbs)-1]
		default:
			t.Fatalf("%s: kind not expected in the base (%s)", what, gvk.ApiVersion())
		}
		require.NoError(t, strict(raw, into), "%s: not a valid %s", what, gvk.Kind)
	}
	return b
}

// The base builds, every object decodes strictly into its Kubernetes type, and the objects
// fit together: one workload per component with both probes, resource requests and a
// non-root user; Services, autoscalers and disruption budgets that select or target an
// existing workload; every gRPC peer named in the config a headless Service with that port;
// every ConfigMap, Secret and key a pod refers to present.
func TestKustomizeBase(t *testing.T) {
	b := build(t)
	ws := b.workloads()
	byComponent := map[string][]workload{}
	for _, w := range ws {
		require.Equal(t, w.selector, w.template.Labels, "%s %s: the selector is the pod's labels", w.kind, w.name)
		c := w.template.Labels["app.kubernetes.io/component"]
		byComponent[c] = append(byComponent[c], w)
		checkPod(t, b, w)
	}
	for _, c := range components {
		require.Len(t, byComponent[c], 1, "one workload for %s", c)
	}
	require.Len(t, ws, len(components), "no workload beyond the components")

	selects := func(sel map[string]string) []workload {
		var out []workload
		for _, w := range ws {
			if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(w.template.Labels)) {
				out = append(out, w)
			}
		}
		return out
	}
	for _, s := range b.services {
		matched := selects(s.Spec.Selector)
		require.Len(t, matched, 1, "Service %s selects one workload", s.Name)
		for _, p := range s.Spec.Ports {
			require.True(t, hasPort(matched[0].template, p.TargetPort.String()), "Service %s: target port %s is a port of %s", s.Name, p.TargetPort.String(), matched[0].name)
		}
		if strings.HasSuffix(s.Name, "-grpc") {
			require.Equal(t, corev1.ClusterIPNone, s.Spec.ClusterIP, "Service %s is headless", s.Name)
		}
	}
	for _, p := range b.pdbs {
		require.NotNil(t, p.Spec.Selector)
		require.Len(t, selects(p.Spec.Selector.MatchLabels), 1, "PodDisruptionBudget %s selects one workload", p.Name)
	}
	scaled := map[string]bool{}
	for _, h := range b.hpas {
		ref := h.Spec.ScaleTargetRef
		found := slices.ContainsFunc(ws, func(w workload) bool { return w.kind == ref.Kind && w.name == ref.Name })
		require.True(t, found, "HorizontalPodAutoscaler %s targets %s %s, which exists", h.Name, ref.Kind, ref.Name)
		require.NotNil(t, h.Spec.MinReplicas)
		require.Less(t, *h.Spec.MinReplicas, h.Spec.MaxReplicas+1)
		require.NotEmpty(t, h.Spec.Metrics)
		scaled[ref.Name] = true
	}
	for _, c := range autoscaled {
		require.True(t, scaled[c], "%s has a HorizontalPodAutoscaler", c)
	}
	for _, c := range components {
		require.True(t, slices.ContainsFunc(b.pdbs, func(p policyv1.PodDisruptionBudget) bool {
			return p.Spec.Selector.MatchLabels["app.kubernetes.io/component"] == c
		}), "%s has a PodDisruptionBudget", c)
	}

	// Every dns:/// peer of the config is a headless Service with that port.
	cfg := configFile(t, b)
	for _, m := range regexp.MustCompile(`dns:///([a-z0-9-]+):(\d+)`).FindAllStringSubmatch(cfg, -1) {
		i := slices.IndexFunc(b.services, func(s corev1.Service) bool { return s.Name == m[1] })
		require.GreaterOrEqual(t, i, 0, "peer %s is a Service", m[0])
		s := b.services[i]
		require.Equal(t, corev1.ClusterIPNone, s.Spec.ClusterIP, "peer %s is headless", m[0])
		require.True(t, slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return fmt.Sprint(p.Port) == m[2] }), "peer %s: port", m[0])
	}
}

func hasPort(tpl corev1.PodTemplateSpec, name string) bool {
	for _, c := range tpl.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name || fmt.Sprint(p.ContainerPort) == name {
				return true
			}
		}
	}
	return false
}

// checkPod holds a workload's pod to the rules of the base.
func checkPod(t *testing.T, b *base, w workload) {
	spec := w.template.Spec
	require.NotNil(t, spec.SecurityContext, w.name)
	require.NotNil(t, spec.SecurityContext.RunAsNonRoot, w.name)
	require.True(t, *spec.SecurityContext.RunAsNonRoot, "%s runs as non-root", w.name)
	for _, c := range spec.Containers {
		what := w.name + "/" + c.Name
		require.NotNil(t, c.ReadinessProbe, "%s: readiness probe", what)
		require.NotNil(t, c.ReadinessProbe.HTTPGet, what)
		require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, what)
		require.True(t, hasPort(w.template, c.ReadinessProbe.HTTPGet.Port.String()), what)
		require.NotNil(t, c.LivenessProbe, "%s: liveness probe", what)
		require.NotNil(t, c.LivenessProbe.HTTPGet, what)
		require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, what)
		require.True(t, hasPort(w.template, c.LivenessProbe.HTTPGet.Port.String()), what)
		require.False(t, c.Resources.Requests.Cpu().IsZero(), "%s: CPU request", what)
		require.False(t, c.Resources.Requests.Memory().IsZero(), "%s: memory request", what)
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				require.True(t, secretHas(b, ref.Name, ref.Key), "%s: %s comes from Secret %s key %s, which exists", what, e.Name, ref.Name, ref.Key)
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			require.True(t, slices.ContainsFunc(b.configMaps, func(c corev1.ConfigMap) bool { return c.Name == v.ConfigMap.Name }),
				"%s: ConfigMap %s exists (the generator's hashed name)", w.name, v.ConfigMap.Name)
		}
	}
}

func secretHas(b *base, name, key string) bool {
	for _, s := range b.secrets {
		if s.Name == name {
			_, ok := s.StringData[key]
			_, ok2 := s.Data[key]
			return ok || ok2
		}
	}
	return false
}

// configFile is the zhibo.yaml of the ConfigMap the workloads mount.
func configFile(t *testing.T, b *base) string {
	for _, c := range b.configMaps {
		if strings.HasPrefix(c.Name, "zhibo-config") {
			require.Contains(t, c.Data, "zhibo.yaml")
			return c.Data["zhibo.yaml"]
		}
	}
	t.Fatal("no zhibo-config ConfigMap")
	return ""
}

// Every workload's container is a valid zhibo invocation: `zhibo config check` with its
// arguments (serve swapped for config check, --components included), its environment (a
// Secret's value as the base has it, a field reference as a plausible value) and the
// ConfigMap's file where the pod mounts it.
func TestKustomizeWorkloadsAreValidInvocations(t *testing.T) {
	b := build(t)
	bin := zhiboBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "zhibo.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(configFile(t, b)), 0o600))
	for _, w := range b.workloads() {
		for _, c := range w.template.Spec.Containers {
			require.NotEmpty(t, c.Args, w.name)
			require.Equal(t, "serve", c.Args[0], "%s runs zhibo serve", w.name)
			args := []string{"config", "check"}
			for _, a := range c.Args[1:] {
				args = append(args, strings.ReplaceAll(a, "/etc/zhibo/zhibo.yaml", cfgPath))
			}
			env := cleanEnv()
			vals := map[string]string{}
			for _, e := range c.Env {
				v := e.Value
				switch {
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					v = secretValue(b, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
					v = map[string]string{"status.podIP": "10.1.2.3",
						"metadata.labels['apps.kubernetes.io/pod-index']": "1"}[e.ValueFrom.FieldRef.FieldPath]
					require.NotEmpty(t, v, "%s: field %s", w.name, e.ValueFrom.FieldRef.FieldPath)
				}
				v = regexp.MustCompile(`\$\(([A-Z_]+)\)`).ReplaceAllStringFunc(v, func(m string) string { return vals[m[2:len(m)-1]] })
				vals[e.Name] = v
				env = append(env, e.Name+"="+v)
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s: zhibo %s: %s", w.name, strings.Join(args, " "), out)
			require.Equal(t, "config ok\n", string(out), w.name)
		}
	}
}

func secretValue(b *base, name, key string) string {
	for _, s := range b.secrets {
		if s.Name == name {
			if v, ok := s.StringData[key]; ok {
				return v
			}
			return string(s.Data[key])
		}
	}
	return ""
}

// cleanEnv is this process's environment without any ZHIBO_ setting.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZHIBO_") {
			env = append(env, kv)
		}
	}
	return env
}

// zhiboBinary builds the repository's zhibo into a temp dir of t.
func zhiboBinary(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "zhibo")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/zhibo")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/zhibo: %s", out)
	return bin
}

// The overlay deploy/README.md shows (testdata/overlay) builds on the base: its image, its
// namespace, and its Secret replacing the placeholders, under the hashed name every
// workload then refers to.
func TestOverlay(t *testing.T) {
	b := buildDir(t, "testdata/overlay")
	require.Len(t, b.secrets, 1)
	s := b.secrets[0]
	require.Equal(t, "live", s.Namespace)
	require.Empty(t, s.StringData, "the placeholders are gone")
	require.Equal(t, "overlay-token-signing-key-0123456789", string(s.Data["secret"]))
	for _, w := range b.workloads() {
		c := w.template.Spec.Containers[0]
		require.Equal(t, "registry.example.com/zhibo:v1.2.0", c.Image, w.name)
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				require.Equal(t, s.Name, e.ValueFrom.SecretKeyRef.Name, "%s: %s", w.name, e.Name)
				require.Contains(t, s.Data, e.ValueFrom.SecretKeyRef.Key, "%s: %s", w.name, e.Name)
			}
		}
	}
	for _, sv := range b.services {
		require.Equal(t, "live", sv.Namespace)
	}
}
