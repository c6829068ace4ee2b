#!/usr/bin/env bash
# Answer size and peak memory of full batches with explanations: 256 different 4,000-character
# excerpts of the corpus (training-data/ in manifest order, starting at every 7th piece, pieces
# joined until long enough; tests/it/api/spans.rs builds the same batch) with `explain: 100`.
# A fresh release server on the shipped model takes one such request, another fresh one 8 at
# once (the default --max-heavy); the script prints the answer's size and each server's peak RSS
# (VmHWM from /proc/PID/status) once it is ready, before the requests, and after them.
# Usage: bench/batch-explain.sh   (PORT=n to choose the port; default a free one)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/batch-explain
mkdir -p "$OUT"
cargo build --release --locked --bin stance >/dev/null 2>&1
python3 - "$OUT/batch.json" <<'PY'
import json, sys
files = [json.loads(l)["file"] for l in open("training-data/manifest.jsonl")]
texts = []
for i in range(256):
    k, t = i * 7, ""
    while len(t) < 4000:
        piece = open(f"training-data/{files[k % len(files)]}", encoding="utf-8").read().strip()
        t = piece if not t else t + "\n\n" + piece
        k += 1
    texts.append(t[:4000])
json.dump({"texts": texts, "explain": 100}, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
PY
echo "request: $(wc -c <"$OUT/batch.json") bytes, 256 different texts, explain 100"
printf '%-10s %8s %14s %8s %8s %14s\n' requests status answer_bytes before_MB after_MB increase_MB
for n in 1 8; do
  PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
  RUST_LOG=warn target/release/stance serve --bind "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  before=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
  clients=()
  for i in $(seq 1 $n); do
    curl -s -o "$OUT/answer-$i.json" -w '%{http_code}\n' "http://127.0.0.1:$PORT/v1/classify/batch" \
      -H "Content-Type: application/json" --data-binary @"$OUT/batch.json" >"$OUT/status-$i.txt" &
    clients+=($!)
  done
  wait "${clients[@]}"
  peak=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
  kill $PID; wait $PID 2>/dev/null || true
  printf '%-10s %8s %14s %8d %8d %14d\n' "$n" "$(sort -u "$OUT"/status-*.txt | tr '\n' ' ')" \
    "$(wc -c <"$OUT/answer-1.json")" $((before/1024)) $((peak/1024)) $(( (peak - before) / 1024 ))
  rm -f "$OUT"/answer-*.json "$OUT"/status-*.txt
done
