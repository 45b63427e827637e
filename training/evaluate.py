"""Evaluate a TAILOR checkpoint on one split and print the paper's metrics as JSON.

    python -m training.evaluate --checkpoint runs/mosei --data aligned_50.pkl [--split test]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from tailor_core import scoring
from tailor_core.model import TAILOR

from .data import SPLITS, DataError, Split, TailorDataset, content_windows, load_data
from .metrics import multilabel_metrics

INPUT_KEYS = ("text", "audio", "visual", "text_mask", "audio_mask", "visual_mask")


@torch.inference_mode()
def predict_scores(model: TAILOR, split: Split, batch_size: int = 256, device: str = "cpu", logits: bool = False
                   ) -> np.ndarray:
    """Scores (or, with ``logits=True``, logits) [N,6] for a whole split, in order."""
    model.eval()
    loader = DataLoader(TailorDataset(split), batch_size=batch_size, shuffle=False)
    out = []
    for batch in loader:
        result = model(**{k: batch[k].to(device) for k in INPUT_KEYS})
        out.append((result.logits if logits else result.scores).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.num_labels))


class Windows(NamedTuple):
    """The windows the app's summary of each example averages (:func:`summary_windows`), K of them in all."""

    which: np.ndarray  # [K] int: the example each window belongs to
    weights: np.ndarray  # [K]: its weight in that example's summary (an example's weights sum to 1)
    logits: np.ndarray  # [K,6]
    face: np.ndarray  # [K] bool: the window has a face
    rest: np.ndarray  # [K] bool: the window has a voice or words


@torch.inference_mode()
def summary_windows(model: TAILOR, split: Split, batch_size: int = 512, device: str = "cpu",
                    size: int = scoring.TIMELINE_STEPS, hop: int = scoring.TIMELINE_HOP,
                    drop: tuple[str, ...] = ()) -> Windows:
    """The windows the app's summary of each example averages, each read by the model.

    Each example's windows are :func:`data.content_windows` (cut to its content, then ``scoring.timeline_spans``),
    weighted by ``scoring.window_weights``. Windows are batched by width, in the same order on every call, so the
    readings of one split with different ``drop`` line up window by window. ``drop`` names modalities masked out of
    the model's input (the windows are still those of the whole example), as the face guard reads them."""
    model.eval()
    masks = {m: getattr(split, f"{m}_mask").numpy() for m in ("text", "audio", "visual")}
    valid = masks["text"] | masks["audio"] | masks["visual"]
    jobs: dict[int, list[tuple[int, int, int, float]]] = {}  # width -> (example, a, b, weight)
    for i, v in enumerate(valid):
        spans = content_windows(v, size, hop)
        for (a, b), w in zip(spans, scoring.window_weights(v, spans), strict=True):
            jobs.setdefault(b - a, []).append((i, a, b, float(w)))
    order = [job for group in jobs.values() for job in group]
    logits = []
    for group in jobs.values():
        for k in range(0, len(group), batch_size):
            chunk = group[k: k + batch_size]
            inputs = {key: torch.stack([getattr(split, key)[i, a:b] for i, a, b, _ in chunk]).to(device)
                      for key in INPUT_KEYS}
            for m in drop:
                inputs[f"{m}_mask"] = torch.zeros_like(inputs[f"{m}_mask"])
            logits.append(model(**inputs).logits.float().cpu().numpy())
    present = {m: np.array([masks[m][i, a:b].any() for i, a, b, _ in order], bool) for m in masks}
    return Windows(np.array([i for i, *_ in order], int), np.array([w for *_, w in order]),
                   np.concatenate(logits) if logits else np.zeros((0, model.config.num_labels)),
                   present["visual"], present["text"] | present["audio"])


def summarise(windows: Windows, probs: np.ndarray, n: int) -> np.ndarray:
    """Scores [n,6]: each example's weighted mean of its windows' ``probs`` [K,6] (``windows`` from
    :func:`summary_windows`, whose logits ``probs`` were made from)."""
    out = np.zeros((n, probs.shape[1]))
    np.add.at(out, windows.which, windows.weights[:, None] * probs)
    return out


def summary_scores(model: TAILOR, split: Split, batch_size: int = 512, device: str = "cpu",
                   size: int = scoring.TIMELINE_STEPS, hop: int = scoring.TIMELINE_HOP) -> np.ndarray:
    """Scores [N,6] of each example as the app summarises an input: the weighted mean of its windows' calibrated
    scores (:func:`summary_windows`), before the face guard (:func:`guarded_summary_scores`)."""
    windows = summary_windows(model, split, batch_size, device, size, hop)
    return summarise(windows, model.calibrated(torch.from_numpy(windows.logits)).numpy(), len(split))


def guarded_summary_scores(model: TAILOR, split: Split, thresholds: np.ndarray, batch_size: int = 512,
                           device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Scores [N,6] of each example exactly as the app gives them, after its face guard, and held [N,6] bool
    (where the guard took a label from at or over its ``thresholds`` [6] to under it).

    As ``Predictor`` does it (``tailor_core.scoring``): every window with a face and a voice or words is also read
    without its face and from its face alone; ``scoring.face_guard`` caps each window, and the summary (the
    windows' weighted mean) is capped again against the two parts' summaries where any window was guarded."""
    n = len(split)
    whole, without, face_only = (summary_windows(model, split, batch_size, device, drop=drop)
                                 for drop in ((), ("visual",), ("text", "audio")))
    fused, no_face, face = (model.calibrated(torch.from_numpy(w.logits)).numpy().astype(np.float64)
                            for w in (whole, without, face_only))
    guarded = whole.face & whole.rest
    windows, _ = scoring.face_guard(fused, no_face, face, thresholds, guarded)
    parts = scoring.part_readings(fused, no_face, face, whole.face, whole.rest)
    ran = np.zeros(n, bool)
    ran[whole.which[guarded]] = True
    overall = summarise(whole, windows, n)
    capped, _ = scoring.face_guard(overall, summarise(whole, parts[0], n), summarise(whole, parts[1], n),
                                   thresholds, ran)
    held = (summarise(whole, fused, n) >= thresholds) & (capped < thresholds)
    return capped, held


def evaluate_split(model: TAILOR, split: Split, batch_size: int = 256, device: str = "cpu",
                   thresholds: list[float] | None = None) -> dict:
    scores = predict_scores(model, split, batch_size, device)
    thr = np.asarray(thresholds if thresholds is not None else model.config.label_thresholds())
    return multilabel_metrics(split.labels.numpy(), scores >= thr, model.config.labels)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="directory with config.json + model.safetensors")
    p.add_argument("--data", required=True, help="TAILOR aligned file or a product .npz")
    p.add_argument("--unaligned", help="MulT unaligned pickle, for a model trained unaligned")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threshold", type=float, help="one threshold for every label (default: the checkpoint's)")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model = TAILOR.from_pretrained(args.checkpoint, device=device)
        split = load_data(args.data, args.unaligned)[args.split]
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    thresholds = [args.threshold] * model.config.num_labels if args.threshold is not None else None
    print(json.dumps(evaluate_split(model, split, args.batch_size, device, thresholds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
