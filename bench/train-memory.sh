#!/usr/bin/env bash
# Training memory on a large corpus: generates a synthetic JSONL corpus of SIZE_MB megabytes
# (random words, three labels with different word preferences; made only for this benchmark and
# never used for the shipped model), trains on it with the release build, and reports peak RSS.
# Usage: bench/train-memory.sh [SIZE_MB]   (default 1024)
# TRAIN_ARGS overrides the training flags (default: unigrams, as bigrams of random text only widen the
# dense chunks, whose size is capped at 64 MB whatever the width).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1024}
WORK=${BENCH_DIR:-/tmp/stance-train-bench}
mkdir -p "$WORK"
CORPUS="$WORK/synthetic-${SIZE_MB}mb.jsonl"
cargo build --release --locked --bin stance >/dev/null 2>&1

if [ ! -f "$CORPUS" ]; then
  echo "generating $CORPUS"
  python3 - "$CORPUS" "$SIZE_MB" <<'PY'
import json, random, sys
path, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
syll = ["ka", "lo", "mi", "ter", "van", "os", "ri", "sun", "pe", "dra", "ul", "ni", "che", "bor", "ex", "qua"]
vocab = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(60000)})
import itertools
cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))   # Zipf-like
labels = ["alpha", "beta", "gamma"]
bias = {l: rng.sample(vocab[:5000], 300) for l in labels}
target = size_mb * 1024 * 1024
written = 0
with open(path, "w", encoding="utf-8") as f:
    while written < target:
        label = labels[rng.randrange(3)]
        words = rng.choices(vocab, cum_weights=cum, k=450) + rng.choices(bias[label], k=50)
        rng.shuffle(words)
        line = json.dumps({"text": " ".join(words) + ".", "label": label}) + "\n"
        f.write(line)
        written += len(line)
PY
fi
ls -l "$CORPUS"
/usr/bin/time -v target/release/stance train --data "$CORPUS" --models "$WORK/models" --keep 1 ${TRAIN_ARGS:---bigrams false} 2>"$WORK/time.txt" | tee "$WORK/train.txt"
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$WORK/time.txt"
awk -v mb="$SIZE_MB" '/Maximum resident set size/ {printf "peak RSS %.0f MB for a %d MB corpus (ratio %.2f)\n", $6/1024, mb, ($6/1024)/mb}' "$WORK/time.txt"
