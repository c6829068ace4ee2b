#!/usr/bin/env bash
# Bulk scoring throughput and memory: `stance classify --jsonl` (release build, shipped model)
# on a generated JSONL archive of ~3 KB articles with typographic punctuation. Prints MB/s and
# the resident memory sampled over the run (it must stay flat whatever the input size).
#
# The archive is benchmark input, not training data: each article is made of corpus pieces
# from training-data/ concatenated to ~3 KB, with straight quotes, dashes and "..." turned into
# typographic ones (’ “ ” — – …), and is kept under target/ (regenerated when missing).
#
# Usage: bench/bulk.sh [MB]     (default 1024: a ~1 GB archive)
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-1024}
OUT=target/bench-bulk
mkdir -p "$OUT"
INPUT="$OUT/articles-${MB}MB.jsonl"

cargo build --release --locked --bin stance >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }

if [ ! -s "$INPUT" ]; then
  python3 - "$MB" "$INPUT.partial" <<'PY'
import json, pathlib, random, re, sys
target = int(sys.argv[1]) << 20
pieces = []
for p in sorted(pathlib.Path("training-data").glob("*/*.txt")):
    body = p.read_text(encoding="utf-8").split("\n", 1)[-1]
    pieces += [para.strip() for para in body.split("\n\n") if len(para.strip()) > 80]
def typographic(s):
    s = re.sub(r'"(\w)', "\u201c\\1", s)
    s = s.replace('"', "\u201d").replace("'", "\u2019")
    s = s.replace(" -- ", " \u2014 ").replace(" - ", " \u2013 ").replace("...", "\u2026")
    return s
rng = random.Random(12)
written = 0
with open(sys.argv[2], "w", encoding="utf-8") as f:
    n = 0
    while written < target:
        parts, size = [], 0
        while size < 3000:
            para = typographic(rng.choice(pieces))
            parts.append(para)
            size += len(para.encode()) + 2
        # Every article carries at least one of each mark, whatever its pieces held.
        text = "\u201cOpen or closed?\u201d \u2014 a reader\u2019s question\u2026\n\n" + "\n\n".join(parts)
        line = json.dumps({"id": f"a{n}", "source": "bench", "text": text}, ensure_ascii=False) + "\n"
        f.write(line)
        written += len(line.encode())
        n += 1
print(f"generated {n} articles, {written / 1e6:.0f} MB", file=sys.stderr)
PY
  mv "$INPUT.partial" "$INPUT"
fi

BYTES=$(stat -c %s "$INPUT")
LINES=$(wc -l <"$INPUT")
echo "input: $INPUT ($LINES lines, $((BYTES / 1000000)) MB, mean $((BYTES / LINES)) bytes/line)"
echo "load before: $(uptime)"
START=$(date +%s.%N)
target/release/stance classify --jsonl "$INPUT" --output "$OUT/results.jsonl" &
PID=$!
: >"$OUT/rss.txt"; : >"$OUT/hwm.txt"; : >"$OUT/cpu.txt"
while kill -0 "$PID" 2>/dev/null; do
  awk '/VmRSS/{print $2}' "/proc/$PID/status" 2>/dev/null >>"$OUT/rss.txt" || true
  awk '/VmHWM/{print $2}' "/proc/$PID/status" 2>/dev/null >"$OUT/hwm.txt" || true
  # utime + stime in clock ticks: the CPU the run got, whatever else shares the cores.
  awk '{print $14 + $15}' "/proc/$PID/stat" 2>/dev/null >"$OUT/cpu.txt" || true
  sleep 0.5
done
STATUS=0; wait "$PID" || STATUS=$?
END=$(date +%s.%N)
echo "load after:  $(uptime)"
[ "$STATUS" -eq 0 ] || { echo "stance classify --jsonl exited $STATUS"; exit 1; }
OUTLINES=$(wc -l <"$OUT/results.jsonl")
[ "$OUTLINES" -eq "$LINES" ] || { echo "expected $LINES result lines, got $OUTLINES"; exit 1; }
python3 - "$BYTES" "$START" "$END" "$OUT/rss.txt" "$OUT/hwm.txt" "$OUT/cpu.txt" "$(getconf CLK_TCK)" "$(nproc)" <<'PY'
import sys
size, start, end = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rss = [int(x) for x in open(sys.argv[4]).read().split()]
hwm = open(sys.argv[5]).read().split()
secs = end - start
print(f"time: {secs:.1f} s, throughput: {size / 1e6 / secs:.1f} MB/s")
cpu = open(sys.argv[6]).read().split()
if cpu:
    # Sampled up to 0.5 s before the end, so a slight underestimate of the CPU used.
    cpu_s = int(cpu[0]) / int(sys.argv[7])
    per = size / 1e6 / cpu_s
    print(f"CPU: {cpu_s:.1f} s (user + sys), {per:.1f} MB per CPU-second: "
          f"{per * int(sys.argv[8]):.0f} MB/s on {sys.argv[8]} cores no one else uses")
if rss:
    q = [rss[min(len(rss) - 1, int(len(rss) * f))] / 1024 for f in (0.1, 0.5, 0.9)]
    print(f"RSS over the run ({len(rss)} samples): min {min(rss)/1024:.0f} MB, "
          f"at 10/50/90% of the run {q[0]:.0f}/{q[1]:.0f}/{q[2]:.0f} MB, max {max(rss)/1024:.0f} MB; "
          f"peak (VmHWM) {int(hwm[0])/1024 if hwm else float('nan'):.0f} MB")
PY
