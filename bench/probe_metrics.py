"""Probability helpers shared by the scikit-learn probes (bench/model_probe.py,
bench/legacy_influence.py), computed as `stance evaluate` computes them."""
import numpy as np


def softmax(s):
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def log_evidence(T):
    """ln(1 + n) per row of a feature matrix, `n` its distinct features (the length map's input)."""
    return np.log1p(np.asarray((T > 0).sum(1)).ravel())


def length_scale(q, logn):
    """The probes' length map: s(n) = exp(q0 + q1 (ln(1 + n) - 5)), centred so the two parameters
    are not collinear for the optimiser (stance's own map, with its floor, is
    Rebuilt.calibrated)."""
    return np.exp(q[0] + q[1] * (logn - 5.0))


def log_loss(P, truth):
    return float(-np.mean(np.log(P[np.arange(len(truth)), truth])))


def ece(P, truth, bins=10):
    """Expected calibration error over `bins` equal-width confidence bins."""
    conf, right, total = P.max(1), P.argmax(1) == truth, 0.0
    for i in range(bins):
        m = (conf > i / bins) & (conf <= (i + 1) / bins) if i else conf <= 1 / bins
        if m.any():
            total += m.mean() * abs(right[m].mean() - conf[m].mean())
    return total


def coverage(P, truth):
    """Accuracy of the most confident 30% and 50% of the documents."""
    order = np.argsort(-P.max(1), kind="stable")
    right = (P.argmax(1) == truth)[order]
    return [right[: int(round(len(truth) * q))].mean() for q in (0.3, 0.5)]
