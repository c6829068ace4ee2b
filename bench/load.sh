#!/usr/bin/env bash
# Load test: wrk on loopback POSTs a real ~3 KB article to /v1/classify on the release build
# serving the shipped model. Prints requests/s, p50/p99 latency and the server's RSS.
# Usage: bench/load.sh [SECONDS] [CONNECTIONS]     (defaults 15 s, 64 connections)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNS=${2:-64}
OUT=bench/out
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --bin stance >/dev/null 2>&1

# The corpus article closest to 3 KB.
ARTICLE=$(for f in training-data/*/*.txt; do echo "$(( $(wc -c <"$f") - 3000 )) $f"; done \
  | awk '{d=$1<0?-$1:$1; print d, $2}' | sort -n | head -1 | cut -d' ' -f2)
python3 - "$ARTICLE" >"$OUT/body.json" <<'PY'
import json, sys
print(json.dumps({"text": open(sys.argv[1], encoding="utf-8").read()}))
PY
cat >"$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$OUT/body.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=${RUST_LOG:-warn} target/release/stance serve --bind "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done

echo "article: $ARTICLE ($(wc -c <"$ARTICLE") bytes), $CONNS connections, ${DURATION}s, log level ${RUST_LOG:-warn}"
wrk -t${WRK_THREADS:-2} -c"$CONNS" -d"${DURATION}s" --latency -s "$OUT/post.lua" "http://127.0.0.1:$PORT/v1/classify" | tee "$OUT/wrk.txt"
echo "server RSS now: $(awk '/VmRSS/{print $2, $3}' /proc/$PID/status), peak: $(awk '/VmHWM/{print $2, $3}' /proc/$PID/status)"
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -E '^stance_http_requests_total.*classify' || true
