// Package check validates the deploy files without a container engine or a cluster: the
// kustomize base in deploy/k8s builds with the pinned kustomize (go tool kustomize, the same
// API in process), every object it yields decodes strictly into the Kubernetes API types, the
// objects fit together, and every workload is a zhibo invocation that `zhibo config check`
// accepts; the compose file is valid by the Compose Specification's JSON Schema; the
// Dockerfile keeps its promises; the Prometheus alert rules and the Grafana dashboard parse as
// Prometheus would parse them, and name only metrics a running zhibo exports. It is a module of its own so that kustomize and
// the Kubernetes types stay out of zhibo's go.mod. Run it with (cd deploy/check && go test ./...).
package check
