#!/usr/bin/env bash
# Soak: wrk at CONNECTIONS connections for SECONDS against the release build on the shipped
# model, mixing per 100 requests: 80 valid ~3 KB articles, 8 malformed JSON bodies, 4 invalid
# `explain` (1e400), 4 made-up methods, 2 unknown routes, 2 worst-case 1 MiB bodies (from
# bench/worst-inputs.py, rotating). Meanwhile a prober requests /healthz every 100 ms on a new
# connection (as a liveness probe does) on the probe listener (--probe-bind, where the container's
# probes go) and samples the server's RSS every 5 s; a second prober does the same on the main
# listener, for comparison (it queues behind the saturated workers).
# Reports: 5xx count (from /metrics), whether the server survived, /healthz p50/p99/max, RSS at
# the first minute, minimum, maximum and at the end.
# Usage: bench/soak.sh [SECONDS] [CONNECTIONS]     (defaults 600 s, 64 connections)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
CONNS=${2:-64}
OUT=bench/out/soak
mkdir -p "$OUT"
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --bin stance >/dev/null 2>&1
python3 bench/worst-inputs.py bench/out/worst
ARTICLE=$(for f in training-data/*/*.txt; do echo "$(( $(wc -c <"$f") - 3000 )) $f"; done \
  | awk '{d=$1<0?-$1:$1; print d, $2}' | sort -n | awk 'NR == 1 {print $2}')
python3 - "$ARTICLE" >"$OUT/body.json" <<'PY'
import json, sys
print(json.dumps({"text": open(sys.argv[1], encoding="utf-8").read(), "explain": 5}))
PY
cat >"$OUT/mix.lua" <<LUA
local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s end
local valid, malformed, explain, method, unknown
local worst = {}
-- Requests are built in init(), once wrk knows the Host header.
function init(args)
  local json = function() return {["Content-Type"] = "application/json"} end
  local text = function() return {["Content-Type"] = "text/plain"} end
  valid = wrk.format("POST", "/v1/classify", json(), slurp("$OUT/body.json"))
  malformed = wrk.format("POST", "/v1/classify", json(), '{"text": "open weights", ')
  explain = wrk.format("POST", "/v1/classify", json(), '{"text": "open weights", "explain": 1e400}')
  method = wrk.format("MADEUP", "/v1/classify", text(), "x")
  unknown = wrk.format("GET", "/v2/nothing", {}, nil)
  for _, n in ipairs({"fdfa-words", "accents", "unk", "english-one-accent", "random-unicode", "fdfa"}) do
    table.insert(worst, wrk.format("POST", "/v1/classify", text(), slurp("bench/out/worst/" .. n .. ".txt")))
  end
end
local i = 0
request = function()
  i = i + 1
  local k = i % 100
  if k < 2 then return worst[(math.floor(i / 100) % #worst) + 1]
  elseif k < 10 then return malformed
  elseif k < 14 then return explain
  elseif k < 18 then return method
  elseif k < 20 then return unknown
  else return valid end
end
LUA

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PROBE_PORT=$(free_port)
RUST_LOG=warn target/release/stance serve --bind "127.0.0.1:$PORT" --probe-bind "127.0.0.1:$PROBE_PORT" \
  >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
echo "soak: ${DURATION}s, $CONNS connections, server pid $PID, idle RSS $(awk '/VmRSS/{print $2}' /proc/$PID/status) kB"

cat >"$OUT/probe.py" <<'PY'
import http.client, sys, time
port, pid, duration, name = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lat, rss, fails = [], [], 0
start = time.time(); next_rss = 0
while time.time() - start < duration:
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/healthz"); r = c.getresponse(); r.read(); c.close()
        if r.status != 200: fails += 1
    except Exception:
        fails += 1
    lat.append((time.perf_counter() - t0) * 1000)
    if pid and time.time() - start >= next_rss:
        try:
            kb = int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
            rss.append((round(time.time() - start), kb))
        except Exception:
            pass
        next_rss += 5
    time.sleep(0.1)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{name}: healthz probes {len(lat)}, failures {fails}, p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {lat[-1]:.2f} ms")
if not rss:
    sys.exit(0)
after = [kb for t, kb in rss if t >= min(60, rss[-1][0])]
first = after[0] if after else 0
print(f"RSS kB: at 60 s {first}, min {min(after)}, max {max(after)}, end {after[-1]}, "
      f"spread (max-min)/min {100 * (max(after) - min(after)) / min(after):.1f}%, end vs 60 s {100 * (after[-1] - first) / first:+.1f}%")
print("RSS samples (s, kB):", " ".join(f"{t}:{kb}" for t, kb in rss))
PY
python3 "$OUT/probe.py" "$PROBE_PORT" "$PID" "$DURATION" "probe listener" >"$OUT/probe.txt" &
PROBE=$!
python3 "$OUT/probe.py" "$PORT" 0 "$DURATION" "main listener (for comparison)" >"$OUT/probe-main.txt" &
PROBE_MAIN=$!
wrk -t${WRK_THREADS:-2} -c"$CONNS" -d"${DURATION}s" --timeout 60s --latency -s "$OUT/mix.lua" "http://127.0.0.1:$PORT/" | tee "$OUT/wrk.txt"
wait $PROBE $PROBE_MAIN
cat "$OUT/probe.txt" "$OUT/probe-main.txt"
if kill -0 $PID 2>/dev/null; then echo "server alive after the soak"; else echo "SERVER DIED"; fi
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$OUT/metrics.txt"
grep -E '^stance_http_requests_total' "$OUT/metrics.txt"
awk '/^stance_http_requests_total/ && /status="5/ {n += $2} END {print "5xx responses:", n + 0}' "$OUT/metrics.txt"
