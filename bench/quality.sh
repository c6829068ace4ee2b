#!/usr/bin/env bash
# The quality table, in one run: for the shipped configuration and the candidates beside it, macro-F1 of
# 5-fold cross-validation on the corpus grouped by writer (no writer in both the training and the
# held-out folds) and stratified, and the real-world dev set (../shared/realworld/dev.jsonl): macro-F1,
# per-label F1, argued opinion pieces scored neutral, calibration, selective accuracy and off-topic
# detection. Then the same corpus through scikit-learn's MultinomialNB and ComplementNB (TF-IDF unigrams
# and bigrams), installed with pip into target/quality-venv at pinned versions.
#
#   bench/quality.sh            every candidate (about 10 minutes on 2 cores)
#   bench/quality.sh shipped    only the shipped configuration and the scikit-learn baselines
#   bench/quality.sh probe      only bench/model_probe.py: other model families (chi-squared selection,
#                               Dirichlet smoothing, two-stage NB, logistic regression, NB-weighted
#                               logistic regression) on exactly the committed model's features, and
#                               a table of rare-versus-common evidence scales (about a minute)
#   bench/quality.sh influence  only bench/legacy_influence.py: each first-corpus piece's effect on
#                               held-out writers, and the dev set without the harmful ones (seconds)
#   bench/quality.sh variants [SET.jsonl ...]
#                               only bench/variant_probe.py: variants of the shipped pipeline (a map
#                               fitted on openings too, writer-capped counts, a stage-wise map, alpha
#                               mixtures, blend weights) rebuilt in scikit-learn, on the dev set and each SET, means
#                               over three fold draws (about seven minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${DEV:-../shared/realworld/dev.jsonl}
[ -f "$DEV" ] || { echo "bench/quality.sh: $DEV not found (the real-world dev set lives in ../shared)" >&2; exit 1; }
VENV=target/quality-venv
if ! "$VENV/bin/python" -c 'import sklearn, tokenizers' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scikit-learn==1.5.2 numpy==1.26.4 scipy==1.13.1 tokenizers==0.23.3
fi
cargo build --release --locked -q
BIN=target/release/stance
OUT=target/quality; mkdir -p "$OUT"

if [ "${1:-}" = probe ]; then
  "$BIN" classify --jsonl "$DEV" > "$OUT/probe-shipped.jsonl"
  exec "$VENV/bin/python" bench/model_probe.py --model "models/$(cat models/CURRENT)" --data training-data \
    --dev "$DEV" --shipped "$OUT/probe-shipped.jsonl"
fi
if [ "${1:-}" = variants ]; then
  shift
  sets=(--set "$DEV")
  for f in "$@"; do sets+=(--set "$f"); done
  exec "$VENV/bin/python" bench/variant_probe.py --model "models/$(cat models/CURRENT)" --data training-data \
    --calibration-data calibration-data "${sets[@]}"
fi
if [ "${1:-}" = influence ]; then
  exec "$VENV/bin/python" bench/legacy_influence.py --model "models/$(cat models/CURRENT)" --data training-data \
    --dev "$DEV"
fi

# name|flags (on top of the shipped defaults)
CANDIDATES=(
  "shipped|"
  "no calibration set (the map fitted on held-out corpus writers alone; the default before the calibration set)|--calibration-data none"
  "flat multinomial, no two-stage blend (the default before the hierarchical rule)|--variant multinomial"
  "documents not scaled to unit length, alpha 0.2 (the default before unit length)|--l2-norm false --alpha 0.2"
  "unit length, alpha 0.02|--alpha 0.02"
  "unit length, alpha 0.05|--alpha 0.05"
  "punctuation kept|--punctuation true"
  "no negation marking|--negation false"
  "minimum document frequency 2|--min-df 2"
  "stop-word rule|--stop-words true"
  "TF-IDF as well|--tfidf true"
  "complement NB + TF-IDF + L2, alpha 0.2|--variant complement --tfidf true --alpha 0.2"
  "length map without offsets (the calibration default before the vector map)|--calibration length"
  "offsets fitted on every piece, singleton groups included|--calibrate-singletons true"
  "temperature calibration|--calibration temperature"
)
[ "${1:-}" = shipped ] && CANDIDATES=("shipped|")

i=0
for c in "${CANDIDATES[@]}"; do
  name=${c%%|*}; flags=${c#*|}
  # shellcheck disable=SC2086
  "$BIN" evaluate --folds 5 --test "$DEV" --json --predictions "$OUT/$i-pred.jsonl" $flags > "$OUT/$i-grouped.json"
  # shellcheck disable=SC2086
  # The plain row is the uncalibrated model, whatever calibration the candidate picks.
  plain=$(echo "$flags" | sed -E 's/--calibration [a-z]+//')
  # shellcheck disable=SC2086
  "$BIN" evaluate --folds 5 --group-by "" --offtopic none --calibration none --json $plain > "$OUT/$i-plain.json"
  echo "$name" > "$OUT/$i-name"
  i=$((i + 1))
done
"$VENV/bin/python" bench/sklearn_baselines.py --data training-data --dev "$DEV" > "$OUT/sklearn.jsonl"

python3 - "$OUT" "$i" "$DEV" <<'PY'
import json, sys
out, n, dev_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
dev = [json.loads(l) for l in open(dev_path) if l.strip()]
sys.path.insert(0, "bench")
from argued import OPINION_GENRES as opinion
argued = [r for r in dev if r["label"] in ("pro-open", "pro-closed") and r["genre"] in opinion]
dev_lines = open(dev_path, encoding="utf-8").read().split("\n")

def predictions(i):
    """Candidate i's scores of the on-topic dev excerpts, in file order, with each excerpt's row."""
    rows = []
    for line in open(f"{out}/{i}-pred.jsonl"):
        p = json.loads(line)
        if p["truth"] in ("pro-open", "pro-closed", "neutral"):
            rows.append((p, json.loads(dev_lines[int(p["source"].rsplit(":", 1)[1]) - 1])))
    return rows

def macro_f1(pairs):
    labels = sorted({t for t, _ in pairs})
    f1s = []
    for l in labels:
        tp = sum(t == l and p == l for t, p in pairs)
        fp = sum(t != l and p == l for t, p in pairs)
        fn = sum(t == l and p != l for t, p in pairs)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)

def paired_delta(a, b, resamples=1000):
    """95% paired-bootstrap interval of macro-F1(b) - macro-F1(a) over the same excerpts: the
    candidate is better than the shipped configuration only if the interval excludes 0."""
    import random
    rng = random.Random(42)
    n = len(a)
    d = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        d.append(macro_f1([(a[j][1]["label"], b[j][0]["label"]) for j in idx])
                 - macro_f1([(a[j][1]["label"], a[j][0]["label"]) for j in idx]))
    d.sort()
    return d[int(0.025 * (resamples - 1))], d[int(0.975 * (resamples - 1))]

def argued_neutral(rows):
    return sum(r["label"] in ("pro-open", "pro-closed") and r["genre"] in opinion and p["label"] == "neutral"
               for p, r in rows)

base = predictions(0)
# The per-excerpt file and the report must describe the same scores.
assert abs(macro_f1([(r["label"], p["label"]) for p, r in base])
           - json.load(open(f"{out}/0-grouped.json"))["test"]["stance"]["macro_f1"]) < 1e-9
print("| configuration | grouped CV macro-F1 | plain CV macro-F1 | dev macro-F1 | dev macro-F1 minus shipped, 95% paired bootstrap | dev F1 open / closed / neutral | argued scored neutral | dev log-loss | dev ECE | top 30% / 50% acc | off-topic flagged | on-topic flagged |")
print("| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | ---: | ---: |")
for i in range(n):
    name = open(f"{out}/{i}-name").read().strip()
    g = json.load(open(f"{out}/{i}-grouped.json")); p = json.load(open(f"{out}/{i}-plain.json"))
    if i == 0:
        shipped = g
    s = g["test"]["stance"]; f = {m["label"]: m["f1"] for m in s["per_label"]}
    cov = s["accuracy_at_coverage"]; rel = g["test"].get("relevance")
    offf = f"{rel['off_topic_flagged']}/{rel['off_topic_documents']}" if rel else "-"
    onf = f"{rel['on_topic_flagged']}/{rel['on_topic_documents']}" if rel else "-"
    rows = predictions(i)
    if i == 0:
        delta = ""
    else:
        lo, hi = paired_delta(base, rows)
        delta = f"{s['macro_f1'] - shipped['test']['stance']['macro_f1']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    print(f"| {name} | {g['cross_validation']['calibrated']['macro_f1']:.3f} | {p['cross_validation']['raw']['macro_f1']:.3f} | "
          f"**{s['macro_f1']:.3f}** | {delta} | {f['pro-open']:.2f} / {f['pro-closed']:.2f} / {f['neutral']:.2f} | "
          f"{argued_neutral(rows)}/{len(argued)} | {s['log_loss']:.3f} | "
          f"{s['ece']:.3f} | {cov[0]['accuracy']:.2f} / {cov[1]['accuracy']:.2f} | {offf} | {onf} |")
for line in open(f"{out}/sklearn.jsonl"):
    r = json.loads(line); f = r["dev_f1"]
    print(f"| {r['pipeline']} | {r.get('grouped_cv_macro_f1', float('nan')):.3f} | {r['cv_macro_f1']:.3f} | **{r['dev_macro_f1']:.3f}** | | "
          f"{f['pro-open']:.2f} / {f['pro-closed']:.2f} / {f['neutral']:.2f} | | | | | | |")
s = shipped["test"]["stance"]
labels = s["labels"]
print()
print(f"shipped configuration, dev set confusion (rows true, columns predicted; {', '.join(labels)}):")
for l, row in zip(labels, s["confusion"]):
    print(f"  {l:>10}  " + "  ".join(f"{c:>3}" for c in row))
iv = s.get("intervals")
if iv:
    # Percentile bootstrap over the dev excerpts (`stance evaluate --bootstrap`): how far the figures
    # above move with the sample of excerpts alone.
    fmt = lambda i: f"[{i['low']:.3f}, {i['high']:.3f}]"
    print(f"shipped configuration, dev set {iv['level'] * 100:.0f}% bootstrap intervals ({iv['resamples']} resamples): "
          f"macro-F1 {fmt(iv['macro_f1'])}, log-loss {fmt(iv['log_loss'])}, ECE {fmt(iv['ece'])}, "
          f"top 30% {fmt(iv['accuracy_at_coverage'][0])}, top 50% {fmt(iv['accuracy_at_coverage'][1])}")
# The committed model (what `stance train` makes of training-data/) on the dev set, scored once: its
# labels must be the shipped row's, and its confidences feed the ECE noise estimate below.
import subprocess
res = subprocess.run(["target/release/stance", "classify", "--jsonl", dev_path], capture_output=True, text=True, check=True)
committed = {json.loads(l).get("id"): json.loads(l)["stance"] for l in res.stdout.splitlines() if l.strip()}
assert all(committed[r["id"]]["label"] == p["label"] for p, r in base), "the committed model differs from the shipped row"
preds = [committed[r["id"]]["label"] for r in argued]
print(f"argued opinion excerpts (pro-open or pro-closed, opinion genres) scored neutral by the committed model: "
      f"{sum(p == 'neutral' for p in preds)} of {len(argued)}; right: {sum(p == r['label'] for p, r in zip(preds, argued))}")

# How much of the dev ECE is sampling noise: with the committed model's own confidences on the on-topic
# dev excerpts, draw correctness as if every confidence were exactly right, many times, and compute the
# 10-bin ECE each time. A perfectly calibrated model scores this spread on 91 excerpts.
import random
ontopic = [r for r in dev if r["label"] in labels]
conf = [committed[r["id"]]["confidence"] for r in ontopic]
right = [committed[r["id"]]["label"] == r["label"] for r in ontopic]
def ece(conf, right):
    bins = [[] for _ in range(10)]
    for c, k in zip(conf, right):
        bins[min(9, int(c * 10))].append((c, k))
    return sum(abs(sum(c for c, _ in b) - sum(k for _, k in b)) for b in bins if b) / len(conf)
measured = ece(conf, right)
rng = random.Random(0)
sims = sorted(ece(conf, [rng.random() < c for c in conf]) for _ in range(4000))
print(f"dev ECE of the committed model: {measured:.3f}; a perfectly calibrated model with the same confidences "
      f"({len(conf)} excerpts, 4000 draws): median {sims[2000]:.3f}, 90th percentile {sims[3600]:.3f}, "
      f"P(ECE <= 0.08) {sum(x <= 0.08 for x in sims) / len(sims):.2f}, P(ECE >= measured) {sum(x >= measured for x in sims) / len(sims):.2f}")
PY
