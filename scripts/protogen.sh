#!/usr/bin/env bash
# protogen.sh regenerates the Go code for every api/proto/**/*.proto with pinned generators, so
# the committed .pb.go files are reproducible and `go build` never needs protoc.
#
#   scripts/protogen.sh          regenerate in place (stale .pb.go files are removed)
#   scripts/protogen.sh --check  regenerate into a temp dir; exit 1 with a diff if the committed
#                                code differs (used by CI)
#
# protoc comes from the system (Debian/Ubuntu package protobuf-compiler, installed with apt-get if
# missing); the Go plugins are installed at pinned versions into a throw-away GOBIN.
set -euo pipefail

PROTOC_WANT="3.21"                # major.minor the committed code was generated with
PROTOC_GEN_GO="google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12"
PROTOC_GEN_GO_GRPC="google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
PROTO_ROOT="api/proto"            # import root: files are known to protoc as <comp>/v1/<comp>.proto

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc not found; installing protobuf-compiler with apt-get" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq protobuf-compiler >/dev/null
fi
protoc_version="$(protoc --version | awk '{print $2}')"
case "$protoc_version" in
  "$PROTOC_WANT".*) ;;
  *) echo "warning: protoc $protoc_version, committed code uses $PROTOC_WANT.x; the version header lines will differ" >&2 ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

export GOBIN="$tmp/bin"
go install "$PROTOC_GEN_GO"
go install "$PROTOC_GEN_GO_GRPC"

mapfile -t protos < <(cd "$PROTO_ROOT" && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
if [ "${#protos[@]}" -eq 0 ]; then
  echo "no .proto files under $PROTO_ROOT" >&2
  exit 1
fi

mkdir -p "$tmp/gen"
protoc \
  --plugin=protoc-gen-go="$GOBIN/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$GOBIN/protoc-gen-go-grpc" \
  --proto_path="$PROTO_ROOT" \
  --go_out="$tmp/gen" --go_opt=paths=source_relative \
  --go-grpc_out="$tmp/gen" --go-grpc_opt=paths=source_relative \
  "${protos[@]}"

# committed collects the generated files currently in the tree, so both sides hold only .pb.go.
mkdir -p "$tmp/committed"
(cd "$PROTO_ROOT" && find . -name '*.pb.go' -print0 | xargs -0 -r cp --parents -t "$tmp/committed")

if $check; then
  # The protoc version header is ignored so a patch-level protoc difference does not fail CI.
  if ! diff -ru -I '^// .*protoc  *v[0-9]' "$tmp/committed" "$tmp/gen"; then
    echo "generated code under $PROTO_ROOT is stale: run scripts/protogen.sh and commit the result" >&2
    exit 1
  fi
  echo "generated code is up to date"
  exit 0
fi

find "$PROTO_ROOT" -name '*.pb.go' -delete
cp -R "$tmp/gen/." "$PROTO_ROOT/"
echo "generated $(find "$tmp/gen" -name '*.pb.go' | wc -l) files under $PROTO_ROOT"
