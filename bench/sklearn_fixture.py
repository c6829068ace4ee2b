#!/usr/bin/env python3
"""Writes tests/fixtures/sklearn_nb.json: scikit-learn's MultinomialNB, ComplementNB and
TfidfTransformer on a small count matrix, the reference numerics stance's naive Bayes variants are
pinned to (tests/it/sklearn_parity.rs). Run with the venv bench/quality.sh installs:
    target/quality-venv/bin/python bench/sklearn_fixture.py"""
import json, sys
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.naive_bayes import ComplementNB, MultinomialNB

X = np.array([[2, 0, 1, 0, 3, 0], [1, 1, 0, 0, 2, 1], [0, 3, 0, 1, 0, 0],
              [0, 2, 1, 2, 0, 1], [1, 0, 4, 0, 0, 2], [0, 0, 3, 1, 1, 0], [2, 1, 0, 0, 1, 0]], dtype=float)
y = np.array([0, 0, 1, 1, 2, 2, 0])
tf = TfidfTransformer(smooth_idf=True, norm="l2").fit(X)
Xt = tf.transform(X).toarray()
out = {"sklearn": sklearn.__version__, "X": X.tolist(), "y": y.tolist(), "idf": tf.idf_.tolist(),
       "X_tfidf": Xt.tolist(), "cases": []}
for name, model, data in [
    ("multinomial", MultinomialNB(alpha=0.5), X), ("complement", ComplementNB(alpha=0.5), X),
    ("complement-norm", ComplementNB(alpha=0.5, norm=True), X),
    ("complement-tfidf", ComplementNB(alpha=0.5), Xt), ("multinomial-tfidf", MultinomialNB(alpha=0.5), Xt)]:
    model.fit(data, y)
    out["cases"].append({"name": name, "alpha": 0.5, "tfidf": "tfidf" in name,
                         "feature_count": model.feature_count_.tolist(),
                         "feature_log_prob": model.feature_log_prob_.tolist(),
                         "joint_log_likelihood": model.predict_joint_log_proba(data).tolist()
                         if hasattr(model, "predict_joint_log_proba") else None,
                         "predict_proba": model.predict_proba(data).tolist()})
json.dump(out, open(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/sklearn_nb.json", "w"), indent=1)
