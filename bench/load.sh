#!/usr/bin/env bash
# Load test: wrk on loopback POSTs one article as JSON to /v1/classify on the release build
# serving the shipped model, for each input in turn, and prints requests/s and p50/p99 latency for
# each (a table at the end) and the server's RSS.
#
# Inputs, each beside its ASCII variant (the same text with typographic characters replaced by
# ASCII ones, so the cost of those characters shows in the same run):
#   essay          ../shared/reference/reference-essay.txt (skipped when absent)
#   article        the corpus article closest to 3 KB among those with typographic punctuation
#                  (the rule benches/throughput.rs uses)
# Set INPUTS to choose, e.g. INPUTS="essay essay-ascii". The server runs at its default log level
# (info: one line per request) unless RUST_LOG is set. Each input gets an unmeasured warm-up of
# WARMUP seconds (default 2) first. Beside req/s and latency, the table gives the server's CPU time
# (user + system) per request, in microseconds.
# Usage: bench/load.sh [SECONDS] [CONNECTIONS]     (defaults 15 s per input, 64 connections)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNS=${2:-64}
WARMUP=${WARMUP:-2}
OUT=bench/out
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --bin stance >/dev/null 2>&1

ESSAY=../shared/reference/reference-essay.txt
rm -f "$OUT"/*.json "$OUT"/wrk-*.txt
# Writes $OUT/<name>.json for every input available and prints their names.
python3 - "$OUT" "$ESSAY" <<'PY'
import glob, json, os, sys, unicodedata
out, essay = sys.argv[1], sys.argv[2]
TYPOGRAPHIC = "’‘“”—–…"
MAP = {"’": "'", "‘": "'", "′": "'", "“": '"', "”": '"', "″": '"', "—": "-", "–": "-",
       "‐": "-", "‑": "-", "−": "-", "…": "...", "•": "*"}
def ascii_variant(s):
    r = []
    for c in s:
        if c in MAP: r.append(MAP[c])
        elif c.isascii(): r.append(c)
        elif c.isspace(): r.append(" ")
        else:
            base = "".join(d for d in unicodedata.normalize("NFKD", c) if d.isascii())
            r.append(base or "?")
    return "".join(r)
inputs = []
if os.path.exists(essay):
    inputs.append(("essay", open(essay, encoding="utf-8").read()))
best = None
for f in sorted(glob.glob("training-data/*/*.txt")):
    s = open(f, encoding="utf-8").read()
    if any(c in s for c in TYPOGRAPHIC):
        key = (abs(len(s.encode()) - 3000), f)
        if best is None or key < best[0]:
            best = (key, s)
if best:
    inputs.append(("article", best[1]))
for name, text in inputs:
    for n, t in ((name, text), (name + "-ascii", ascii_variant(text))):
        with open(f"{out}/{n}.json", "w", encoding="utf-8") as fh:
            json.dump({"text": t}, fh, ensure_ascii=False)

        print(f"{n}: {len(t.encode())} bytes", file=sys.stderr)
PY
AVAILABLE=$(cd "$OUT" && ls -- *.json 2>/dev/null | sed 's/\.json$//' | tr '\n' ' ' || true)
INPUTS=${INPUTS:-essay essay-ascii article article-ascii}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/stance serve --bind "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done

echo "$CONNS connections, ${DURATION}s per input, wrk threads ${WRK_THREADS:-2}, log level ${RUST_LOG:-default (info)}; $(uptime)"
SUMMARY=()
for name in $INPUTS; do
  if [ ! -f "$OUT/$name.json" ]; then
    echo "input $name not available (have: $AVAILABLE); skipped"
    continue
  fi
  cat >"$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$OUT/$name.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA
  echo "== $name ($(wc -c <"$OUT/$name.json") bytes of JSON)"
  # An unmeasured warm-up first, so that no input pays the server's cold start (page faults,
  # allocator growth) and the inputs compare fairly whatever their order.
  wrk -t"${WRK_THREADS:-2}" -c"$CONNS" -d"${WARMUP}s" -s "$OUT/post.lua" \
    "http://127.0.0.1:$PORT/v1/classify" >/dev/null
  cpu0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  wrk -t"${WRK_THREADS:-2}" -c"$CONNS" -d"${DURATION}s" --latency -s "$OUT/post.lua" \
    "http://127.0.0.1:$PORT/v1/classify" | tee "$OUT/wrk-$name.txt"
  cpu1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  requests=$(awk '/requests in/{print $1}' "$OUT/wrk-$name.txt")
  # Server CPU time (user + system) per request: the capacity figure, which wrk sharing the same
  # cores moves less than it moves req/s.
  cpu_us=$(awk -v c="$((cpu1 - cpu0))" -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN{printf "%.0f", (n > 0 ? c / hz * 1e6 / n : 0)}')
  rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/wrk-$name.txt")
  p50=$(awk '$1=="50%"{print $2}' "$OUT/wrk-$name.txt")
  p99=$(awk '$1=="99%"{print $2}' "$OUT/wrk-$name.txt")
  non2xx=$(awk '/Non-2xx/{print $NF}' "$OUT/wrk-$name.txt")
  SUMMARY+=("$(printf '%-14s %12s %10s %10s %8s %14s' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$cpu_us")")
done
echo
printf '%-14s %12s %10s %10s %8s %14s\n' input "req/s" p50 p99 non-2xx "server CPU us"
printf '%s\n' "${SUMMARY[@]}"
ratio() { # ratio of the req/s of input $1 to input $2, when both ran
  local a b
  a=$(awk '/^Requests\/sec/{print $2}' "$OUT/wrk-$1.txt" 2>/dev/null || true)
  b=$(awk '/^Requests\/sec/{print $2}' "$OUT/wrk-$2.txt" 2>/dev/null || true)
  if [ -n "$a" ] && [ -n "$b" ] && [[ " $INPUTS " == *" $1 "* ]] && [[ " $INPUTS " == *" $2 "* ]]; then
    awk -v a="$a" -v b="$b" -v n1="$1" -v n2="$2" 'BEGIN{printf "%s / %s throughput: %.2f\n", n1, n2, a/b}'
  fi
}
ratio essay essay-ascii
ratio article article-ascii
echo "server RSS now: $(awk '/VmRSS/{print $2, $3}' /proc/$PID/status), peak: $(awk '/VmHWM/{print $2, $3}' /proc/$PID/status)"
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -E '^stance_http_requests_total.*classify' || true
