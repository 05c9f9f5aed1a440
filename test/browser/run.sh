#!/usr/bin/env bash
# Builds zhibo, starts it all-in-one on a free port with a throw-away data
# directory, and runs the browser tests against it in Debian's Chromium: the
# room page (room.test.mjs), private messages (inbox.test.mjs), group chat
# and system notices (inbox_groups.test.mjs), then the alerts for new
# messages: the title's count, desktop notifications and do-not-disturb
# hours (inbox_alerts.test.mjs).
#
#   test/browser/run.sh            from anywhere inside the repository
#   ARTIFACTS_DIR=out test/browser/run.sh   keep screenshots and the server log
#   ZHIBO_BROWSER_TESTS=inbox test/browser/run.sh   only the tests named
#
# Needs go, node and npm; installs chromium with apt-get when it is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/zhibo-browser.XXXXXX")"
export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$tmp/artifacts}"
mkdir -p "$ARTIFACTS_DIR"
server_pid=""

cleanup() {
	local status=$?
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		# Give the server time to drain, then insist.
		for _ in $(seq 1 50); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ $status -ne 0 && -f "$tmp/server.log" ]]; then
		echo "--- last lines of the server log ($ARTIFACTS_DIR/server.log) ---" >&2
		tail -n 40 "$tmp/server.log" >&2 || true
	fi
	[[ -f "$tmp/server.log" ]] && cp "$tmp/server.log" "$ARTIFACTS_DIR/server.log" 2>/dev/null || true
	rm -rf "$tmp/data" "$tmp/zhibo"
	exit "$status"
}
trap cleanup EXIT

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
	echo "installing chromium" >&2
	sudo=""
	[[ $(id -u) -ne 0 ]] && sudo="sudo"
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi

if [[ ! -d "$here/node_modules" ]]; then
	(cd "$here" && npm ci --no-audit --no-fund)
fi

echo "building zhibo" >&2
(cd "$root" && go build -o "$tmp/zhibo" ./cmd/zhibo)

# A free port picked by the kernel; the tiny window before zhibo binds it
# again is acceptable for a test.
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export ZHIBO_URL="http://127.0.0.1:$port"

# A test names its operator in this config file once it has registered (zhibo reloads
# admins when the file changes): the room test to switch modules off through the admin
# API, the groups test to send system notices.
export ZHIBO_BROWSER_CONFIG="$tmp/zhibo.yaml"
echo 'admins: []' >"$ZHIBO_BROWSER_CONFIG"

# The viewer sends a gift from a fresh account: 1000 coins per new wallet (the demo default of
# zhibo up, given explicitly so the test does not hang on it). The tests register every user
# from 127.0.0.1 (the inbox test 22 of them), more than the default hourly allowance of one
# address.
"$tmp/zhibo" up --data_dir "$tmp/data" --config "$ZHIBO_BROWSER_CONFIG" \
	--gateway.http_addr "127.0.0.1:$port" \
	--comet.tcp_addr 127.0.0.1:0 \
	--media.rtmp_addr 127.0.0.1:0 \
	--gift.initial_balance 1000 \
	--account.limits.register_per_ip_hour 100 \
	>"$tmp/server.log" 2>&1 &
server_pid=$!

echo "waiting for $ZHIBO_URL/readyz" >&2
deadline=$((SECONDS + 60))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$ZHIBO_URL/readyz" || true)" == "200" ]]; do
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "zhibo exited before it was ready" >&2
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		echo "zhibo not ready after 60 s" >&2
		exit 1
	fi
	sleep 0.2
done

# ZHIBO_BROWSER_TESTS picks the tests to run (default: all, in this order).
for t in ${ZHIBO_BROWSER_TESTS:-room inbox inbox_groups inbox_alerts}; do
	echo "running $t.test.mjs" >&2
	(cd "$here" && node "$t.test.mjs")
done
