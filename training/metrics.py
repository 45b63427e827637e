"""Multi-label metrics as in the TAILOR paper: Accuracy (Jaccard), Hamming loss, micro/macro P/R/F1."""

from __future__ import annotations

import numpy as np

from tailor_core.config import LABELS


def _binary(a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"expected a [samples, labels] array, got shape {a.shape}")
    return a.astype(bool)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def multilabel_metrics(y_true, y_pred, labels: tuple[str, ...] = LABELS) -> dict:
    """y_true, y_pred [N, L] in {0,1}. Returns the paper's metrics plus per-label F1.

    accuracy: per sample |y ∩ ŷ| / |y ∪ ŷ| averaged, 1 when both are empty (the paper's "Acc").
    Precision / recall / F1 with zero division counted as 0 (scikit-learn's ``zero_division=0``).
    """
    t, p = _binary(y_true), _binary(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} differ")
    inter = (t & p).sum(1)
    union = (t | p).sum(1)
    accuracy = np.where(union == 0, 1.0, inter / np.maximum(union, 1)).mean() if len(t) else 0.0

    tp = (t & p).sum(0).astype(float)
    fp = (~t & p).sum(0).astype(float)
    fn = (t & ~p).sum(0).astype(float)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.array([_f1(a, b) for a, b in zip(precision, recall)])
    micro_p = tp.sum() / (tp.sum() + fp.sum()) if tp.sum() + fp.sum() else 0.0
    micro_r = tp.sum() / (tp.sum() + fn.sum()) if tp.sum() + fn.sum() else 0.0
    return {
        "accuracy": float(accuracy),
        "hamming_loss": float((t != p).mean()) if t.size else 0.0,
        "micro_f1": float(_f1(micro_p, micro_r)),
        "macro_f1": float(f1.mean()),
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "per_label_f1": {name: float(v) for name, v in zip(labels, f1)},
        "samples": int(len(t)),
    }


def tune_thresholds(y_true, scores, grid: np.ndarray | None = None) -> list[float]:
    """Per-label threshold maximising that label's F1 on (validation) data; y_true, scores [N, L]."""
    t = _binary(y_true)
    s = np.asarray(scores, dtype=float)
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2) if grid is None else grid
    best = []
    for j in range(t.shape[1]):
        f1s = []
        for g in grid:
            pred = s[:, j] >= g
            tp, fp, fn = (pred & t[:, j]).sum(), (pred & ~t[:, j]).sum(), (~pred & t[:, j]).sum()
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        best.append(float(grid[int(np.argmax(f1s))]))
    return best


def micro_f1_interval(y_true, y_pred, resamples: int = 1000, level: float = 0.95, seed: int = 0
                      ) -> tuple[float, float]:
    """Bootstrap interval of micro-F1 over examples: ``y_true``, ``y_pred`` [N, L] in {0,1} are resampled by row
    ``resamples`` times (seeded, so a report is reproducible); returns the (lower, upper) percentiles at ``level``.

    It covers the sampling of test examples only, not the seed or the thresholds' own noise (both measured apart in
    the model card), so treat it as the least uncertainty a single number carries."""
    t, p = _binary(y_true), _binary(y_pred)
    if t.shape != p.shape or not len(t):
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must be the same non-empty shape")
    # per example counts, so each resample is a sum over rows rather than a new metrics pass
    counts = np.stack([(t & p).sum(1), (~t & p).sum(1), (t & ~p).sum(1)], 1).astype(float)
    rows = np.random.default_rng(seed).integers(0, len(t), (resamples, len(t)))
    tp, fp, fn = counts[rows].sum(1).T
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    alpha = (1 - level) / 2
    return float(np.quantile(f1, alpha)), float(np.quantile(f1, 1 - alpha))


def neutral_as_label(y_true, y_pred, labels: tuple[str, ...] = LABELS) -> dict:
    """:func:`multilabel_metrics` with "neutral" added as a 7th label: true where an example has no label, predicted
    where no label passes its threshold. This is how the Ekman grouping of GoEmotions (and the words encoder's
    target) counts neutral, so TAILOR's reading of one modality can be compared with its encoder like for like.
    ``y_true``, ``y_pred`` [N, L] in {0,1}."""
    t, p = _binary(y_true), _binary(y_pred)
    return multilabel_metrics(np.concatenate([t, ~t.any(1, keepdims=True)], 1),
                              np.concatenate([p, ~p.any(1, keepdims=True)], 1), (*labels, "neutral"))
