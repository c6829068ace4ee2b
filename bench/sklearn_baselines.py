#!/usr/bin/env python3
"""scikit-learn baselines for bench/quality.sh: MultinomialNB and ComplementNB on TF-IDF unigrams and
bigrams, trained on the same corpus as stance, scored by 5-fold cross-validation grouped by the
manifest's writer (GroupKFold), stratified 5-fold, and the real-world dev set.
Prints one JSON object per pipeline."""
import argparse, json, pathlib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import make_pipeline

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="training-data")
ap.add_argument("--dev", default="../shared/realworld/dev.jsonl")
a = ap.parse_args()
root = pathlib.Path(a.data)
labels = sorted(p.name for p in root.iterdir() if p.is_dir())
man = {}
if (root / "manifest.jsonl").exists():
    for line in open(root / "manifest.jsonl"):
        if line.strip():
            r = json.loads(line); man[r["file"]] = r
texts, y, groups = [], [], []
for l in labels:
    for f in sorted((root / l).glob("*.txt")):
        texts.append(f.read_text()); y.append(l)
        groups.append(man.get(f"{l}/{f.name}", {}).get("writer", f"{l}/{f.name}"))
y = np.array(y)
dev = []
if pathlib.Path(a.dev).exists():
    dev = [json.loads(x) for x in open(a.dev) if x.strip()]
    dev = [r for r in dev if r["label"] in labels]

def pipelines():
    vec = lambda: TfidfVectorizer(ngram_range=(1, 2))
    yield "scikit-learn MultinomialNB (TF-IDF 1-2-grams)", lambda: make_pipeline(vec(), MultinomialNB())
    yield "scikit-learn ComplementNB (TF-IDF 1-2-grams)", lambda: make_pipeline(vec(), ComplementNB())

def cv(make, splitter, split_groups):
    pred = np.empty(len(y), dtype=object)
    for tr, te in splitter.split(texts, y, split_groups):
        m = make().fit([texts[i] for i in tr], y[tr]); pred[te] = m.predict([texts[i] for i in te])
    return f1_score(y, pred, average="macro")

for name, make in pipelines():
    out = {"pipeline": name}
    if len(set(groups)) >= 5:
        out["grouped_cv_macro_f1"] = cv(make, GroupKFold(n_splits=5), groups)
    out["cv_macro_f1"] = cv(make, StratifiedKFold(5, shuffle=True, random_state=42), None)
    if dev:
        m = make().fit(texts, y)
        p = m.predict([r["text"] for r in dev]); g = [r["label"] for r in dev]
        out["dev_macro_f1"] = f1_score(g, p, average="macro")
        out["dev_accuracy"] = accuracy_score(g, p)
        out["dev_f1"] = dict(zip(labels, f1_score(g, p, average=None, labels=labels).tolist()))
    print(json.dumps(out))
