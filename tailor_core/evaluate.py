"""Evaluate a TAILOR checkpoint on one split and print the paper's metrics as JSON.

    python -m tailor_core.evaluate --checkpoint runs/mosei --data aligned_50.pkl [--split test]
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .data import SPLITS, DataError, load_data
from .model import TAILOR
from .train import evaluate_split


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tailor_core.evaluate", description=__doc__,
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
