#!/usr/bin/env bash
# build.sh builds the static zhibo binary that the image ships and CI checks: no cgo (the
# SQLite driver is pure Go), trimmed paths, version and revision stamped into
# `zhibo version` and zhibo_build_info. The Dockerfile runs this same script.
#
#   scripts/build.sh                  # → bin/zhibo
#   OUT=/tmp/zhibo VERSION=v1.2.0 REVISION=<commit> scripts/build.sh
#
# Settings (environment):
#   OUT       output file (default bin/zhibo)
#   VERSION   version string (default: git describe of the checkout, else "dev")
#   REVISION  VCS revision (default: git rev-parse HEAD of the checkout, else empty = "unknown")
#   GOOS, GOARCH  target platform (default: this machine's)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

in_git() { git rev-parse --git-dir >/dev/null 2>&1; }
OUT=${OUT:-bin/zhibo}
if [[ -z "${VERSION:-}" ]]; then
	VERSION=dev
	if in_git; then VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev); fi
fi
if [[ -z "${REVISION:-}" ]] && in_git; then
	REVISION=$(git rev-parse HEAD)
fi
pkg=github.com/zhibo-live/zhibo/internal/app
CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X $pkg.Version=$VERSION -X $pkg.Revision=${REVISION:-}" \
	-o "$OUT" ./cmd/zhibo
echo "built $OUT ($VERSION ${REVISION:-unknown revision})" >&2
