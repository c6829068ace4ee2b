"""The committed model's exact feature matrix, rebuilt in Python for scikit-learn probes.

The features are rebuilt from the committed model's layout (`models/CURRENT`: tokenizer.json and the
unigram, bigram and negation columns of model.json) the way `src/features.rs` builds them (binary,
`[UNK]` never a feature, negation scope from trigger to ender) and weighted by the model's stored
weighting (`src/weighting.rs`: each row scaled to unit length, divided by the shortest training
document's norm when it is shorter), so scikit-learn sees the matrix stance trains on. Evidence
counts read the nonzero entries, which the weighting keeps. bench/model_probe.py checks the
rebuild: MultinomialNB on it must give the committed model's labels on the dev set. Read by bench/model_probe.py and bench/legacy_influence.py."""
import json
import pathlib
import sys

import numpy as np
import scipy.sparse as sp
from tokenizers import Tokenizer

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from argued import OPINION_GENRES  # noqa: E402

LABELS = ["neutral", "pro-closed", "pro-open"]


class Rebuilt:
    """The corpus (`X`, `y`, `groups`, `manifest`) and the dev set's on-topic excerpts (`dev`,
    `DX`, `dy`, `argued`) as binary feature matrices over the committed model's columns."""

    def __init__(self, model, data, dev):
        model = pathlib.Path(model)
        self.tok = Tokenizer.from_file(str(model / "tokenizer.json"))
        spec = json.loads((model / "model.json").read_text())
        self.alpha = spec["alpha"]
        self.variant = spec.get("rule", {}).get("variant", "multinomial")
        self.fit_prior = spec.get("rule", {}).get("fit_prior", True)
        assert [c["label"] for c in spec["classes"]] == LABELS, "labels must be " + str(LABELS)
        self.calibration = spec.get("calibration") or {"method": "none"}
        weighting = spec.get("weighting") or {}
        assert not weighting.get("idf"), "TF-IDF weighting is not rebuilt"
        self.l2 = weighting.get("l2", False)
        self.min_norm = weighting.get("min_norm") or 0.0
        lay = spec["features"]
        self.uni = {t: i for i, t in enumerate(lay["unigrams"])}
        off = len(lay["unigrams"])
        self.bi = {(p[0], p[1]): off + i for i, p in enumerate(lay["bigrams"])}
        off += len(lay["bigrams"])
        neg = lay.get("negation") or {"triggers": [], "enders": [], "negated": []}
        self.negcol = {t: off + i for i, t in enumerate(neg["negated"])}
        self.triggers, self.enders = set(neg["triggers"]), set(neg["enders"])
        self.width = off + len(neg["negated"])

        root = pathlib.Path(data)
        self.manifest = [json.loads(l) for l in open(root / "manifest.jsonl") if l.strip()]
        self.X = self.matrix([(root / m["file"]).read_text() for m in self.manifest])
        self.y = np.array([LABELS.index(m["label"]) for m in self.manifest])
        self.groups = np.array([m["writer"] for m in self.manifest])
        rows = [json.loads(l) for l in open(dev) if l.strip()]
        self.dev = [d for d in rows if d["label"] in LABELS]
        self.DX = self.matrix([d["text"] for d in self.dev])
        self.dy = np.array([LABELS.index(d["label"]) for d in self.dev])
        self.argued = np.array([d["genre"] in OPINION_GENRES and d["label"] != "neutral" for d in self.dev])

    def joint(self, X, y, T):
        """The committed decision rule's log-scores of the rows of `T`, fitted on `X`, `y` with
        MultinomialNB: its joint log-likelihoods, or for the hierarchical variant
        (`src/hierarchical.rs`) their average in log-probability with the two-stage model's
        (neutral against the other labels' pooled counts, then the side from the flat model)."""
        from scipy.special import logsumexp
        from sklearn.naive_bayes import MultinomialNB
        m = MultinomialNB(alpha=self.alpha, fit_prior=self.fit_prior).fit(X, y)
        J = np.asarray(T @ m.feature_log_prob_.T) + m.class_log_prior_
        if self.variant == "multinomial":
            return J
        assert self.variant == "hierarchical", self.variant
        first = MultinomialNB(alpha=self.alpha, fit_prior=self.fit_prior).fit(X, (y != 0).astype(int))
        F = np.asarray(T @ first.feature_log_prob_.T) + first.class_log_prior_
        F = F - logsumexp(F, axis=1, keepdims=True)
        flat = J - logsumexp(J, axis=1, keepdims=True)
        two = np.column_stack([F[:, 0], F[:, 1:2] + J[:, 1:] - logsumexp(J[:, 1:], axis=1, keepdims=True)])
        return 0.5 * flat + 0.5 * two

    def calibrated(self, J, T):
        """The committed model's probabilities from joint log-likelihoods `J` of the rows of `T`:
        its calibration map, `softmax(s(max(n, floor)) (J - max J) + bias)` with `n` the row's
        distinct known features (`src/calibration.rs`)."""
        c = self.calibration
        J = J - J.max(1, keepdims=True)
        if c.get("method", "none") != "none":
            n = np.maximum(np.asarray((T > 0).sum(1)).ravel(), c.get("evidence_floor", 0))
            J = np.exp(c["log_scale"] + c["length_slope"] * np.log1p(n))[:, None] * J
            J = J + np.array(c.get("bias") or [0.0] * J.shape[1])
        e = np.exp(J - J.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def features(self, text):
        ids = self.tok.encode(text, add_special_tokens=False).ids
        out, negated = set(), False
        for i, t in enumerate(ids):
            if t != 0:
                if t in self.enders:
                    negated = False
                c = (self.negcol if negated else self.uni).get(t)
                if c is not None:
                    out.add(c)
                if t in self.triggers:
                    negated = True
            if i > 0:
                c = self.bi.get((ids[i - 1], t))
                if c is not None:
                    out.add(c)
        return out

    def matrix(self, texts):
        rows, cols = [], []
        for r, t in enumerate(texts):
            f = self.features(t)
            rows += [r] * len(f)
            cols += sorted(f)
        return self.weight(sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), self.width)))

    def weight(self, B):
        """The model's weighting of a binary matrix (any nonzero entry counts as 1), so that a
        probe that drops columns, as a fold's own vocabulary does, can weight what is left."""
        B = sp.csr_matrix(B, dtype=float)
        B.data[:] = 1.0
        if not self.l2:
            return B
        norm = np.maximum(np.sqrt(np.asarray(B.sum(1)).ravel()), self.min_norm)
        return (sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ B).tocsr()
