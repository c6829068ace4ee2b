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

writers=("$@")
if [ ${#writers[@]} -eq 0 ]; then
  mapfile -t writers < <(python3 -c '
import json
seen = []
for line in open("training-data/manifest.jsonl"):
    r = json.loads(line)
    w = "legacy" if r["design"] == "legacy" else r["writer"]
    if w not in seen:
        seen.append(w)
print("\n".join(seen))')
fi

# One corpus folder without `writer` ("" keeps everything), hard-linked to save copying.
corpus_without() {
  local dir=$OUT/corpus
  rm -rf "$dir"; mkdir -p "$dir"/{pro-open,pro-closed,neutral}
  python3 - "$1" "$dir" <<'PY'
import json, os, sys
skip, dir = sys.argv[1], sys.argv[2]
for line in open("training-data/manifest.jsonl"):
    r = json.loads(line)
    w = "legacy" if r["design"] == "legacy" else r["writer"]
    if w != skip:
        os.link(os.path.join("training-data", r["file"]), os.path.join(dir, r["file"]))
PY
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
  n=$(python3 -c "
import json,sys
print(sum(1 for l in open('training-data/manifest.jsonl') if (lambda r: ('legacy' if r['design']=='legacy' else r['writer']))(json.loads(l)) == sys.argv[1]))" "$w")
  printf '%s\t%s\t%s\n' "$w" "$n" "$(score "$(corpus_without "$w")")"
done
