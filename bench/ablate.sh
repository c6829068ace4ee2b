#!/usr/bin/env bash
# What each writer's pieces do to the model: for every writer in training-data/manifest.jsonl (the
# first corpus counts as one writer, "legacy"), train on the corpus without that writer and measure
# the real-world dev set (../shared/realworld/dev.jsonl), uncalibrated and without the relevance
# head. A writer whose removal raises dev macro-F1 teaches something real writing does not share.
# One dev figure is 91 excerpts, so read a row beside grouped cross-validation before acting on it.
#
#   bench/ablate.sh             every writer (about 20 s per writer on 2 cores)
#   bench/ablate.sh w08 legacy  only these
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${DEV:-../shared/realworld/dev.jsonl}
[ -f "$DEV" ] || { echo "bench/ablate.sh: $DEV not found (the real-world dev set lives in ../shared)" >&2; exit 1; }
cargo build --release --locked -q
BIN=target/release/stance
OUT=target/ablate; rm -rf "$OUT"; mkdir -p "$OUT"

# The manifest's pieces per writer, the first corpus counting as one writer ("legacy"): the one
# place that rule is written; corpus_without reads the same listing.
python3 - <<'PY' > "$OUT/writers.tsv"
import json
for line in open("training-data/manifest.jsonl"):
    r = json.loads(line)
    print("legacy" if r["design"] == "legacy" else r["writer"], r["file"], sep="\t")
PY
writers=("$@")
if [ ${#writers[@]} -eq 0 ]; then
  mapfile -t writers < <(cut -f1 "$OUT/writers.tsv" | awk '!seen[$0]++')
fi

# One corpus folder without `writer` ("" keeps everything), hard-linked to save copying.
corpus_without() {
  local dir=$OUT/corpus
  rm -rf "$dir"; mkdir -p "$dir"/{pro-open,pro-closed,neutral}
  awk -F'\t' -v skip="$1" '$1 != skip { print $2 }' "$OUT/writers.tsv" \
    | while read -r file; do ln "training-data/$file" "$dir/$file"; done
  echo "$dir"
}

score() {
  "$BIN" evaluate --data "$1" --folds 0 --test "$DEV" --offtopic none --calibration none --json \
    | python3 -c '
import json, sys
s = json.load(sys.stdin)["test"]["stance"]
f1 = [round(r["f1"], 3) for r in s["per_label"]]
print("%.3f" % s["macro_f1"], *f1, sep="\t")'
}

printf 'left out\tpieces\tdev macro-F1\tF1 per label (model order)\n'
printf 'nobody\t0\t%s\n' "$(score "$(corpus_without "")")"
for w in "${writers[@]}"; do
  n=$(awk -F'\t' -v w="$w" '$1 == w' "$OUT/writers.tsv" | wc -l)
  printf '%s\t%s\t%s\n' "$w" "$n" "$(score "$(corpus_without "$w")")"
done
