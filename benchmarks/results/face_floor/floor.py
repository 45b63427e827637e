"""The two-sided face guard tried in RULE.md (not adopted), as a drop-in for ``tailor_core.scoring.face_guard``.

    python benchmarks/results/face_floor/floor.py composed CACHE     # the composed test, today's guard vs this one
    python benchmarks/results/face_floor/floor.py clips --data ../shared/data --out clip_rules_floor.json

``clips`` runs ``benchmarks/bench_clip_rules.py`` with this guard in place of the app's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from tailor_core import scoring  # noqa: E402

TODAY = scoring.face_guard


def floor_guard(fused, without_face, face_only, thresholds, guarded):
    """Today's guard; and where the face alone reads a label under its threshold, at least the reading without it."""
    scores, held = TODAY(fused, without_face, face_only, thresholds, guarded)
    g = np.asarray(guarded, bool)
    g = g[..., None] if g.ndim else g
    return np.where(g & (face_only < thresholds), np.maximum(scores, without_face), scores), held


def composed(cache: Path, checkpoint: Path = ROOT / "checkpoints" / "tailor-demo") -> dict:
    from tailor_core.model import TAILOR
    from training.data import load_npz
    from training.evaluate import guarded_summary_scores
    from training.metrics import multilabel_metrics

    model = TAILOR.from_pretrained(checkpoint)
    tuned = np.array(model.config.label_thresholds())
    test = load_npz(cache / "demo.npz")["test"]
    y = test.labels.numpy() > 0.5
    pred = {}
    try:
        for name, guard in (("today", TODAY), ("floor", floor_guard)):
            scoring.face_guard = guard
            pred[name] = guarded_summary_scores(model, test, tuned)[0] >= tuned
    finally:
        scoring.face_guard = TODAY
    a, b = pred["today"], pred["floor"]
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(1000):
        i = rng.integers(0, len(y), len(y))
        diffs.append(multilabel_metrics(y[i], b[i])["micro_f1"] - multilabel_metrics(y[i], a[i])["micro_f1"])
    f1 = {name: round(multilabel_metrics(y, p)["micro_f1"], 4) for name, p in pred.items()}
    return {**f1,
            "difference_95": [round(float(np.percentile(diffs, q)), 4) for q in (2.5, 97.5)],
            "labels_added": int((b & ~a).sum()), "of_them_true": int((b & ~a & y).sum()),
            "labels_removed": int((a & ~b).sum())}


if __name__ == "__main__":
    if sys.argv[1] == "composed":
        print(json.dumps(composed(Path(sys.argv[2])), indent=1))
    else:
        scoring.face_guard = floor_guard
        import bench_clip_rules

        raise SystemExit(bench_clip_rules.main(sys.argv[2:]))
