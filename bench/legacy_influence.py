#!/usr/bin/env python3
"""Which first-corpus pieces teach style? Each piece's effect on held-out writers, then on the dev set.

The first corpus (`design: legacy`, 636 pieces) records no writer, so leaving one writer out cannot
measure it. Naive Bayes counts are additive, so the exact effect of removing one training piece can
be computed without refitting: this script folds the corpus 5 ways grouped by writer (as grouped
cross-validation does), fits MultinomialNB on the committed model's own features
(bench/rebuilt_features.py; the flat model, which is half of the hierarchical blend, whatever the
committed rule: the closed-form removal effect below is the flat model's) with the length map fitted on held-out writers (as `stance train`
fits it), and for every legacy piece in each training fold computes how much removing it would change
the log-loss of the held-out fold's new pieces (the pieces written one writer per batch, in real
genres; legacy pieces are not targets, each being its own group). A piece whose removal lowers that
loss in every fold where it trains is "harmful on held-out writers": it teaches something the new
writers do not share.

The dev set is used only to check the result, never to choose pieces: the table refits without the
harmful pieces (and without the most harmful 50, 100, 150 by summed effect) and scores the dev set
beside 20 random removals of as many legacy pieces.

Usage (bench/quality.sh influence runs it): legacy_influence.py --model models/<id>
    --data training-data --dev ../shared/realworld/dev.jsonl"""
import argparse
import pathlib
import sys
from collections import Counter

import numpy as np
from scipy.optimize import minimize
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold
from sklearn.naive_bayes import MultinomialNB

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from probe_metrics import coverage, ece, length_scale, log_evidence, log_loss, softmax  # noqa: E402
from rebuilt_features import LABELS, Rebuilt  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--data", default="training-data")
ap.add_argument("--dev", default="../shared/realworld/dev.jsonl")
ap.add_argument("--write-harmful", metavar="FILE", help="also write the harmful pieces' paths, one per line")
a = ap.parse_args()

rb = Rebuilt(a.model, a.data, a.dev)
X, y, groups, DX, dy, argued, alpha = rb.X.tocsr(), rb.y, rb.groups, rb.DX, rb.dy, rb.argued, rb.alpha
legacy = np.array([m.get("design") == "legacy" for m in rb.manifest])
V = X.shape[1]
folds = list(GroupKFold(5).split(X, y, groups))


def jll(Xt, yt, T):
    m = MultinomialNB(alpha=alpha).fit(Xt, yt)
    return np.asarray(T @ m.feature_log_prob_.T) + m.class_log_prior_


# The length map, fitted on held-out writers' out-of-fold log-likelihoods.
oof = np.zeros((len(y), 3))
for tr, te in folds:
    oof[te] = jll(X[tr], y[tr], X[te])
ln_all = log_evidence(X)
p = minimize(lambda q: log_loss(softmax(length_scale(q, ln_all)[:, None] * oof), y), [0.0, 0.0], method="Nelder-Mead").x


def losses(J, s, truth):
    Z = s[:, None] * J
    Z -= Z.max(1, keepdims=True)
    return -(Z[np.arange(len(truth)), truth] - np.log(np.exp(Z).sum(1)))


effect = np.zeros(len(y))  # summed change in held-out loss when the piece is removed (< 0: removal helps)
helps = np.zeros(len(y), int)  # folds in which removing it lowers the held-out loss
trains = np.zeros(len(y), int)  # folds in which it is a training piece
for tr, te in folds:
    te = te[~legacy[te]]
    Xt, yt = X[tr], y[tr]
    N = np.array([np.asarray(Xt[yt == c].sum(0)).ravel() for c in range(3)])
    Nc = N.sum(1)
    docs = np.bincount(yt, minlength=3)
    logp = np.log(N + alpha) - np.log(Nc + alpha * V)[:, None]
    prior = np.log(docs / docs.sum())
    T = X[te].tocsc()
    length = np.asarray(T.sum(1)).ravel()
    s = length_scale(p, log_evidence(X[te]))
    J = np.asarray(T @ logp.T) + prior
    base = losses(J, s, y[te])
    for i in tr[legacy[tr]]:
        c, cols, vals = y[i], X[i].indices, X[i].data
        d_logp = np.log(N[c, cols] - vals + alpha) - np.log(N[c, cols] + alpha)
        d_norm = np.log(Nc[c] - vals.sum() + alpha * V) - np.log(Nc[c] + alpha * V)
        fewer = docs.copy()
        fewer[c] -= 1
        J2 = J + (np.log(fewer / fewer.sum()) - prior)
        J2[:, c] += np.asarray(T[:, cols] @ d_logp).ravel() - length * d_norm
        d = float((losses(J2, s, y[te]) - base).sum())
        effect[i] += d
        helps[i] += d < 0
        trains[i] += 1

L = np.where(legacy)[0]
harmful = L[(helps[L] == trains[L]) & (trains[L] > 0)]
ranked = L[np.argsort(effect[L], kind="stable")]
print(f"legacy pieces: {len(L)}; harmful on held-out writers (removal lowers their loss in every fold): "
      f"{len(harmful)} ({', '.join(f'{LABELS[c]} {n}' for c, n in sorted(Counter(y[harmful]).items()))})")
print("most harmful: " + ", ".join(rb.manifest[i]["file"] for i in ranked[:5]))
if a.write_harmful:
    pathlib.Path(a.write_harmful).write_text("".join(rb.manifest[i]["file"] + "\n" for i in harmful))
print()

s_dev = length_scale(p, log_evidence(DX))


def dev_row(name, keep):
    P = softmax(s_dev[:, None] * jll(X[keep], y[keep], DX))
    pred = P.argmax(1)
    top = coverage(P, dy)
    print(f"| {name} | {int(keep.sum())} | {f1_score(dy, pred, average='macro'):.3f} | {log_loss(P, dy):.3f} | "
          f"{ece(P, dy):.3f} | {int(((pred == 0) & argued).sum())}/{int(argued.sum())} | {top[0]:.2f} / {top[1]:.2f} |",
          flush=True)


def without(idx):
    keep = np.ones(len(y), bool)
    keep[idx] = False
    return keep


print("| training set | pieces | dev macro-F1 | dev log-loss | dev ECE | argued scored neutral | top 30% / 50% |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
dev_row("whole corpus", np.ones(len(y), bool))
dev_row(f"without the {len(harmful)} harmful on held-out writers", without(harmful))
for k in (50, 100, 150):
    dev_row(f"without the {k} most harmful by summed effect", without(ranked[:k]))
rng = np.random.default_rng(42)
f1s, lls = [], []
for _ in range(20):
    keep = without(rng.choice(L, len(harmful), replace=False))
    P = softmax(s_dev[:, None] * jll(X[keep], y[keep], DX))
    f1s.append(f1_score(dy, P.argmax(1), average="macro"))
    lls.append(log_loss(P, dy))
print(f"| without {len(harmful)} random legacy pieces (20 draws: mean, sd) | {len(y) - len(harmful)} | "
      f"{np.mean(f1s):.3f} ({np.std(f1s):.3f}) | {np.mean(lls):.3f} ({np.std(lls):.3f}) | | | |")
