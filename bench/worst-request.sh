#!/usr/bin/env bash
# Peak memory of the service under the worst single request: for each worst-case body (written
# by bench/worst-inputs.py: 1 MiB of U+FDFA, combining accents, literal [UNK], English with one
# accent, random Unicode, a JSON body and a full batch), a fresh release server on the shipped
# model takes that one request; the script prints the status, the time and the peak RSS
# (VmHWM) above the idle RSS. Target: at most 64 MB above idle.
# Usage: bench/worst-request.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/worst
mkdir -p "$OUT"
cargo build --release --locked --bin stance >/dev/null 2>&1
python3 bench/worst-inputs.py "$OUT"
printf '%-22s %6s %8s %10s %10s %12s\n' body status seconds idle_MB peak_MB above_idle_MB
worst=0
for f in "$OUT"/*.txt "$OUT"/*.json; do
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  RUST_LOG=warn target/release/stance serve --bind "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  idle=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
  case "$f" in
    *batch.json) url=/v1/classify/batch; ct=application/json ;;
    *.json) url=/v1/classify; ct=application/json ;;
    *) url=/v1/classify; ct=text/plain ;;
  esac
  res=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT$url" -H "Content-Type: $ct" --data-binary @"$f")
  peak=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
  kill $PID; wait $PID 2>/dev/null || true
  above=$(( (peak - idle) / 1024 ))
  [ $above -gt $worst ] && worst=$above
  printf '%-22s %6s %8s %10d %10d %12d\n' "$(basename "$f")" ${res% *} ${res#* } $((idle/1024)) $((peak/1024)) $above
done
echo "worst peak above idle: ${worst} MB (target: at most 64 MB)"
