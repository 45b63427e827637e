"""Evaluate a TAILOR checkpoint on one split and print the paper's metrics as JSON.

    python -m tailor_core.training.evaluate --checkpoint runs/mosei --data aligned_50.pkl [--split test]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..model import TAILOR
from .data import SPLITS, DataError, Split, TailorDataset, load_data
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


def evaluate_split(model: TAILOR, split: Split, batch_size: int = 256, device: str = "cpu",
                   thresholds: list[float] | None = None) -> dict:
    scores = predict_scores(model, split, batch_size, device)
    thr = np.asarray(thresholds if thresholds is not None else model.config.label_thresholds())
    return multilabel_metrics(split.labels.numpy(), scores >= thr, model.config.labels)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tailor_core.training.evaluate", description=__doc__,
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
