"""Would a summary made of the timeline's windows score as well as one pass over the whole window?

    python benchmarks/bench_summary_windows.py --cache cache [--checkpoint checkpoints/tailor-demo]

On the composed validation and test sets (``training.prepare_demo``'s ``demo.npz``, 16-step examples) the checkpoint
scores each example three ways: one pass over all 16 steps (what the app's summary did before), the mean of the
timeline's windows (``--size`` steps every ``--hop``, weighted by their valid steps, as ``scoring.combine`` weights
windows), and their maximum. Thresholds are re-tuned on validation for each way; prints test micro/macro-F1.

``--content`` scores each example as the app scores an input of the same length instead: cut to its content (first
to last step with any modality) and summarised as the app does (``evaluate.summary_scores``: windows from
``scoring.timeline_spans``, so inputs under 8 s get the app's shorter windows), against one pass over the content.
The last column scores with the checkpoint's own thresholds, as the app does.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from tailor_core.model import TAILOR  # noqa: E402
from training.data import Split, load_npz  # noqa: E402
from training.evaluate import summary_scores  # noqa: E402
from training.metrics import multilabel_metrics, tune_thresholds  # noqa: E402


@torch.inference_mode()
def window_scores(model: TAILOR, split: Split, a: int, b: int, batch: int = 256) -> np.ndarray:
    """Calibrated scores [N, labels] of steps [a, b) of every example."""
    out = []
    for i in range(0, len(split), batch):
        sl = slice(i, i + batch)
        out.append(model(split.text[sl, a:b], split.audio[sl, a:b], split.visual[sl, a:b], split.text_mask[sl, a:b],
                         split.audio_mask[sl, a:b], split.visual_mask[sl, a:b]).scores.numpy())
    return np.concatenate(out)


def three_ways(model: TAILOR, split: Split, size: int, hop: int) -> dict[str, np.ndarray]:
    length = split.text.shape[1]
    valid = (split.text_mask | split.audio_mask | split.visual_mask).numpy()
    spans = [(a, a + size) for a in range(0, length - size + 1, hop)]
    per = np.stack([window_scores(model, split, a, b) for a, b in spans], 1)  # [N, W, labels]
    weight = np.stack([valid[:, a:b].sum(1) for a, b in spans], 1).astype(float)  # [N, W]
    return {"one pass over all steps (before)": window_scores(model, split, 0, length),
            f"mean of {size}-step windows every {hop}": (per * weight[..., None]).sum(1)
            / np.maximum(weight.sum(1), 1)[:, None],
            f"max of {size}-step windows": np.where(weight[..., None] > 0, per, 0.0).max(1)}


def content_ways(model: TAILOR, split: Split, size: int, hop: int) -> dict[str, np.ndarray]:
    """Each example cut to its content: one pass (windows of at most the training length; every example here fits
    in one) vs the app's summary (``evaluate.summary_scores``: the weighted mean of the timeline's windows)."""
    valid = (split.text_mask | split.audio_mask | split.visual_mask).numpy()
    one = np.zeros((len(split), split.labels.shape[1]))
    extents = [(int(np.flatnonzero(v)[0]), int(np.flatnonzero(v)[-1]) + 1) for v in valid]
    for lo, hi in sorted(set(extents)):
        rows = [i for i, e in enumerate(extents) if e == (lo, hi)]
        one[rows] = window_scores(model, split_rows(split, rows), lo, hi)
    return {"one pass (the app's summary before)": one,
            f"mean of the app's timeline windows ({size} steps every {hop}, shorter under {2 * size}; today)":
            summary_scores(model, split, size=size, hop=hop)}


def split_rows(split: Split, rows: list[int]) -> Split:
    return Split(*(getattr(split, f.name)[rows] for f in fields(split)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", required=True, help="the --out folder of training.prepare_demo")
    p.add_argument("--checkpoint", default="checkpoints/tailor-demo")
    p.add_argument("--size", type=int, default=8, help="timeline window, steps (the app's default)")
    p.add_argument("--hop", type=int, default=2)
    p.add_argument("--content", action="store_true", help="score each example cut to its content, as the app does")
    args = p.parse_args(argv)
    model = TAILOR.from_pretrained(args.checkpoint)
    data = load_npz(Path(args.cache) / "demo.npz", ("valid", "test"))
    ways = content_ways if args.content else three_ways
    valid, test = (ways(model, data[s], args.size, args.hop) for s in ("valid", "test"))
    own = np.array(model.config.label_thresholds())
    print("| summary | test micro-F1 | test macro-F1 | micro-F1, checkpoint's thresholds |\n|---|---|---|---|")
    for name in valid:
        thresholds = np.array(tune_thresholds(data["valid"].labels.numpy(), valid[name]))
        m = multilabel_metrics(data["test"].labels.numpy(), test[name] >= thresholds)
        m_own = multilabel_metrics(data["test"].labels.numpy(), test[name] >= own)
        print(f"| {name} | {m['micro_f1']:.4f} | {m['macro_f1']:.4f} | {m_own['micro_f1']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
