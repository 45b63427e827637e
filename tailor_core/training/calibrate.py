"""Calibration: per-label temperature scaling, and the expected calibration error (ECE) that measures it.

A label's score is ``sigmoid(logit / T)``; ``T`` is fitted on validation data to minimise that label's binary
cross-entropy (a 1-D search: the loss is convex in ``1/T``). ``T > 1`` softens overconfident scores, and the
ranking, hence AUC, is unchanged; thresholds are re-tuned on the calibrated scores afterwards.
"""

from __future__ import annotations

import numpy as np

TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.25), np.log(20.0), 400))


def _bce(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    z = logits / t
    # log(1 + e^z) - y z, computed stably
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperatures(logits: np.ndarray, labels: np.ndarray) -> list[float]:
    """Per-label temperatures [L] minimising BCE of ``sigmoid(logits / T)`` against ``labels`` (both [N, L])."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    out = []
    for j in range(logits.shape[1]):
        losses = [_bce(logits[:, j], labels[:, j], t) for t in TEMPERATURE_GRID]
        out.append(float(TEMPERATURE_GRID[int(np.argmin(losses))]))
    return out


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[float]:
    """Per-label ECE [L]: over ``bins`` equal-width score bins, the share-weighted |mean score - label rate|."""
    labels, scores = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for j in range(scores.shape[1]):
        s, y = scores[:, j], labels[:, j]
        which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
        err = 0.0
        for b in range(bins):
            sel = which == b
            if sel.any():
                err += sel.mean() * abs(s[sel].mean() - y[sel].mean())
        out.append(float(err))
    return out
