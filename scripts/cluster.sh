#!/usr/bin/env bash
# cluster.sh runs zhibo split into one process per component on this machine: account, room,
# gift, danmaku, logic, COMETS comets, JOBS jobs and a front gateway, each business component
# on a store of its own, all on one external NATS JetStream. It prints the front URL and the
# comets' addresses, writes the pids to $DIR/pids, and stops everything on Ctrl-C or when the
# given command ends:
#
#   scripts/cluster.sh                                    # run until Ctrl-C
#   scripts/cluster.sh -- zhibo bench fanout -url http://127.0.0.1:18080 -conns 1000 …
#
# Settings (environment):
#   ZHIBO       binary (default: go build into $DIR)
#   NATS_URL    JetStream URL (default nats://127.0.0.1:4222; must be running)
#   MYSQL_DSN   a server DSN such as root@tcp(127.0.0.1:3306)/ — each component gets database
#               zhibo_<component>, created if missing (default: an SQLite file each in $DIR)
#   COMETS, JOBS  how many of each (default 2 and 2)
#   BASE        first port (default 18080): gateway BASE, component HTTP ports BASE+1…,
#               gRPC BASE+100…, comet TCP BASE+200…
#   EXTRA       flags given to every process (e.g. the bench's "-gateway.rate_per_ip 0 …")
#   DIR         working directory (default: a new temp dir)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DIR=${DIR:-$(mktemp -d -t zhibo-cluster.XXXXXX)}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
COMETS=${COMETS:-2}
JOBS=${JOBS:-2}
BASE=${BASE:-18080}
EXTRA=${EXTRA:-}
cmd=()
if [[ "${1:-}" == "--" ]]; then
	shift
	cmd=("$@")
fi

if [[ -z "${ZHIBO:-}" ]]; then
	echo "building zhibo into $DIR" >&2
	go build -o "$DIR/zhibo" ./cmd/zhibo
	ZHIBO=$DIR/zhibo
fi

ns="cluster$(date +%s)"
secret="local-cluster-secret-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
stores=()
for c in account room gift danmaku; do
	if [[ -n "${MYSQL_DSN:-}" ]]; then
		db="zhibo_$c"
		mysql_host=$(sed -E 's/.*tcp\(([^:]+):([0-9]+)\).*/\1/' <<<"$MYSQL_DSN")
		mysql_port=$(sed -E 's/.*tcp\(([^:]+):([0-9]+)\).*/\2/' <<<"$MYSQL_DSN")
		mysql_user=$(sed -E 's/^([^:@]+).*/\1/' <<<"$MYSQL_DSN")
		mysql -h "$mysql_host" -P "$mysql_port" -u "$mysql_user" -e "CREATE DATABASE IF NOT EXISTS $db"
		stores+=("-$c.store.driver" mysql "-$c.store.dsn" "${MYSQL_DSN%/*}/$db")
	else
		stores+=("-$c.store.driver" sqlite "-$c.store.dsn" "$DIR/$c.db")
	fi
done

port() { echo $((BASE + $1)); }
rpc() { echo "127.0.0.1:$(port $((100 + $1)))"; }
common=(-queue.url "$NATS_URL" -queue.namespace "$ns" -secret "$secret" -log.level warn
	-peers.account "$(rpc 1)" -peers.room "$(rpc 2)" -peers.gift "$(rpc 3)" -peers.logic "$(rpc 5)"
	"${stores[@]}")
# shellcheck disable=SC2206 # EXTRA is a list of flags
common+=($EXTRA)

hosts=()
for i in $(seq 1 "$COMETS"); do
	hosts+=("127.0.0.1:$(port $((200 + i))):$(port $((10 + i)))")
done
host_list=$(
	IFS=,
	echo "${hosts[*]}"
)

pids=()
start() { # name, args…
	local name=$1
	shift
	"$ZHIBO" serve "$@" -data_dir "$DIR/data-$name" "${common[@]}" >"$DIR/$name.out" 2>"$DIR/$name.log" &
	pids+=($!)
	echo "$! $name" >>"$DIR/pids"
	for _ in $(seq 1 100); do
		grep -q "zhibo is up" "$DIR/$name.out" 2>/dev/null && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || { echo "$name exited; see $DIR/$name.log" >&2; tail -5 "$DIR/$name.log" >&2; return 1; }
		sleep 0.1
	done
	echo "$name did not come up; see $DIR/$name.log" >&2
	return 1
}
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT INT TERM

: >"$DIR/pids"
start account -components account -grpc_addr "$(rpc 1)" -gateway.http_addr "127.0.0.1:$(port 1)"
start logic -components logic -grpc_addr "$(rpc 5)" -gateway.http_addr "127.0.0.1:$(port 5)"
start room -components room -grpc_addr "$(rpc 2)" -gateway.http_addr "127.0.0.1:$(port 2)" -logic.hosts "$host_list"
start gift -components gift -grpc_addr "$(rpc 3)" -gateway.http_addr "127.0.0.1:$(port 3)"
start danmaku -components danmaku -grpc_addr "$(rpc 4)" -gateway.http_addr "127.0.0.1:$(port 4)"
for i in $(seq 1 "$COMETS"); do
	start "comet$i" -components comet -grpc_addr "$(rpc $((10 + i)))" -comet.tcp_addr "127.0.0.1:$(port $((200 + i)))" \
		-gateway.http_addr "127.0.0.1:$(port $((10 + i)))"
done
for i in $(seq 1 "$JOBS"); do
	start "job$i" -components job -gateway.http_addr "127.0.0.1:$(port $((50 + i)))"
done
start gateway -components gateway -gateway.http_addr "127.0.0.1:$(port 0)" -gateway.upstreams \
	"account=http://127.0.0.1:$(port 1),room=http://127.0.0.1:$(port 2),gift=http://127.0.0.1:$(port 3),danmaku=http://127.0.0.1:$(port 4)"

echo "zhibo cluster up: http://127.0.0.1:$(port 0)  (comets: $host_list; logs and pids in $DIR)"
if ((${#cmd[@]} > 0)); then
	"${cmd[@]}"
else
	wait
fi
