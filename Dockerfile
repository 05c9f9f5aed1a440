# syntax=docker/dockerfile:1
# The zhibo image: one static binary, every role. `zhibo up` by default (all-in-one on
# embedded storage); give `serve --components=…` and settings for a role of a cluster
# (deploy/compose, deploy/k8s). Build from the repository root:
#
#   docker build --build-arg VERSION=v1.2.0 --build-arg REVISION=$(git rev-parse HEAD) -t zhibo .
#
# The binary is built by scripts/build.sh, the same script CI runs.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	OUT=/out/zhibo VERSION="$VERSION" REVISION="$REVISION" scripts/build.sh

# Alpine rather than distroless: its busybox wget runs the HEALTHCHECK without a probe
# command in zhibo itself; CA certificates for TLS to MySQL, Redis or NATS, tzdata for logs.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
	&& addgroup -S -g 10001 zhibo && adduser -S -D -H -u 10001 -G zhibo zhibo \
	&& mkdir -p /var/lib/zhibo && chown zhibo:zhibo /var/lib/zhibo
COPY --from=build /out/zhibo /usr/local/bin/zhibo
USER 10001:10001
WORKDIR /var/lib/zhibo
# data_dir: the embedded database and queue of `zhibo up`, a generated secret; mount a volume
# here to keep them. Processes of a cluster on MySQL and external NATS keep nothing here.
ENV ZHIBO_DATA_DIR=/var/lib/zhibo
VOLUME ["/var/lib/zhibo"]
# 8080 HTTP (API, web UI, /sub WebSocket, /healthz, /readyz, /metrics), 2243 raw TCP
# (comet), 9000 gRPC between the processes of a cluster (when grpc_addr is set).
EXPOSE 8080 2243 9000
# Liveness of a process listening on the default gateway.http_addr (:8080); a process on
# another port needs its own check (compose and Kubernetes define theirs).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
	CMD wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["zhibo"]
CMD ["up"]
