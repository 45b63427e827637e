"""Train TAILOR as the paper did, on MOSEI (aligned file, optional unaligned pickle) or a product ``.npz``.

    python -m training.train --data aligned_50.pkl --output runs/mosei
    python -m training.train --data aligned_50.pkl --unaligned mosei_senti_data_noalign.pkl --output runs/u
    torchrun --nproc_per_node 4 -m training.train --data ... --output ...   (DDP; or accelerate launch)

As the authors' train.py: their Adam (``--optimizer bertadam``: no bias correction, eps 1e-6; lr 5e-5, weight
decay 0.01 except biases and LayerNorm), linear warm-up over 10% of the steps then linear decay, gradient-norm
clip 1.0, batch 64, 20 epochs, seed 42 (``--optimizer adamw`` for torch's AdamW). The epoch with the best
validation micro-F1 is saved to --output, reloaded from disk and tested on the whole test set in order; metrics
go to ``--output/metrics.json``.
``--output/last/`` holds the latest epoch and the optimiser state for ``--resume``.
``--window-crop P`` replaces each training example, with probability P, by one of the windows the app's summary
scores on it (``data.app_window``). ``--ema DECAY`` keeps an exponential moving average of the weights (updated
after every step) and validates, saves and tests that average instead of the raw weights: one checkpoint of the
same size, less seed-to-seed noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from tailor_core.config import TailorConfig
from tailor_core.model import TAILOR

from .calibrate import TUNE_ON, finish_checkpoint
from .data import DataError, Split, TailorDataset, feature_stats, load_data
from .evaluate import INPUT_KEYS, evaluate_split
from .losses import tailor_loss
from .optim import OPTIMIZERS, make_optimizer, warmup_linear_scheduler


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def config_for(split: Split, aligned: bool, overrides: dict | None = None) -> TailorConfig:
    """A configuration whose input sizes match the data; everything else is the paper's unless overridden."""
    values = dict(text_dim=split.text.shape[-1], audio_dim=split.audio.shape[-1],
                  visual_dim=split.visual.shape[-1], text_len=split.text.shape[1],
                  audio_len=split.audio.shape[1], visual_len=split.visual.shape[1], aligned=aligned)
    values["max_positions"] = max(512, values["audio_len"], values["visual_len"])
    values.update(overrides or {})
    return TailorConfig(**values)


def _distributed() -> tuple[int, int, int]:
    """(rank, local_rank, world_size); initialises torch.distributed under torchrun / accelerate."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 0, 1
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return dist.get_rank(), local, world


def train(args: argparse.Namespace) -> dict:
    rank, local_rank, world = _distributed()
    main_process = rank == 0
    seed_everything(args.seed)
    device = args.device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    out_dir = Path(args.output)

    splits = load_data(args.data, args.unaligned)
    overrides = json.loads(Path(args.config).read_text()) if args.config else {}
    cfg = config_for(splits["train"], aligned=args.unaligned is None, overrides=overrides)
    model = TAILOR(cfg)
    if args.init:
        # Start from given weights (strictly: every parameter, same shapes) instead of a fresh draw.
        try:
            model.load_state_dict(TAILOR.from_pretrained(args.init).state_dict(), strict=True)
        except (RuntimeError, OSError, ValueError) as e:
            raise DataError(f"--init {args.init} does not fit this model: {e}") from e
    if args.normalize_features:
        for m, (mean, std) in feature_stats(splits["train"]).items():
            model.set_feature_stats(m, mean, std)
    model.to(device)

    if args.window_crop and not cfg.aligned:
        raise DataError("--window-crop needs aligned data (one time grid for every modality)")
    train_set = TailorDataset(splits["train"], window_crop=args.window_crop)
    sampler = DistributedSampler(train_set, seed=args.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None,
                        sampler=sampler, generator=generator, drop_last=False, num_workers=args.num_workers)
    optimizer = make_optimizer(args.optimizer, model, args.lr, args.weight_decay, max_grad_norm=args.clip)
    scheduler = warmup_linear_scheduler(optimizer, args.epochs * len(loader), args.warmup)

    # The averaged copy (buffers too: the feature statistics are constants, so averaging leaves them as they are).
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    kept = ema.module if ema is not None else model  # what is validated, saved and tested

    start_epoch, best, history = 0, -1.0, []
    last_dir = out_dir / "last"
    if args.resume and (last_dir / "trainer_state.pt").is_file():
        # Our own file, still loaded with weights_only=True: tensors and plain containers only.
        state = torch.load(last_dir / "trainer_state.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(TAILOR.from_pretrained(last_dir).state_dict(), strict=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best, history = state["epoch"] + 1, state["best"], json.loads(state["history"])
        if ema is not None:
            ema.module.load_state_dict(TAILOR.from_pretrained(last_dir / "ema").state_dict(), strict=True)
            ema.n_averaged.fill_(state["ema_steps"])
        torch.set_rng_state(state["rng"])
        generator.set_state(state["loader_rng"])  # the next epoch shuffles as an uninterrupted run would
        if main_process:
            print(f"resumed from {last_dir} at epoch {start_epoch + 1}", file=sys.stderr)

    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if torch.cuda.is_available() else None)

    for epoch in range(start_epoch, args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        sums, seen, t0 = {}, 0, time.time()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=None if main_process else True, leave=False)
        for batch in bar:
            batch = {k: v.to(device) for k, v in batch.items()}
            out = net(**{k: batch[k] for k in INPUT_KEYS})
            terms = tailor_loss(out, batch["labels"], cfg)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            n = len(batch["labels"])
            seen += n
            for k, v in terms.as_floats().items():
                sums[k] = sums.get(k, 0.0) + v * n
            bar.set_postfix(loss=f"{sums['total'] / seen:.4f}")
        train_seconds = time.time() - t0
        if not main_process:
            continue
        losses = {k: v / max(seen, 1) for k, v in sums.items()}
        valid = evaluate_split(kept, splits["valid"], args.eval_batch_size, device)
        keys = ("micro_f1", "macro_f1", "accuracy", "hamming_loss")
        record = {"epoch": epoch + 1, "seconds": round(time.time() - t0, 1), "train_seconds": round(train_seconds, 1),
                  "samples_per_s": round(seen * world / max(train_seconds, 1e-9), 1), "loss": losses,
                  "valid": {k: valid[k] for k in keys}}
        if args.test_every_epoch:  # for learning curves only: model selection still uses validation alone
            test = evaluate_split(kept, splits["test"], args.eval_batch_size, device)
            record["test"] = {k: test[k] for k in keys}
        history.append(record)
        improved = valid["micro_f1"] > best
        if improved:
            best = valid["micro_f1"]
            kept.save_pretrained(out_dir)
        test_note = f" test micro-F1 {record['test']['micro_f1']:.4f}" if "test" in record else ""
        print(f"epoch {epoch + 1}: loss {losses['total']:.4f} (label {losses['label']:.4f}) valid micro-F1 "
              f"{valid['micro_f1']:.4f} macro-F1 {valid['macro_f1']:.4f} acc {valid['accuracy']:.4f}{test_note}"
              f" ({train_seconds:.1f} s training){'  *best*' if improved else ''}", file=sys.stderr, flush=True)
        if args.history_jsonl:  # one line per epoch as it happens (benchmarks follow it)
            with open(args.history_jsonl, "a") as f:
                f.write(json.dumps(record) + "\n")
        model.save_pretrained(last_dir)
        if ema is not None:
            ema.module.save_pretrained(last_dir / "ema")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
                    "best": best, "history": json.dumps(history), "rng": torch.get_rng_state(),
                    "loader_rng": generator.get_state(),
                    "ema_steps": int(ema.n_averaged) if ema is not None else 0},
                   last_dir / "trainer_state.pt")

    if world > 1:
        torch.distributed.barrier()
    if not main_process:
        return {}
    # Test the best epoch as saved on disk, on the whole test set, in order.
    best_model = TAILOR.from_pretrained(out_dir, device=device)
    metrics = finish_checkpoint(best_model, splits, out_dir, args.calibrate, args.tune_thresholds,
                                args.eval_batch_size, device, args.tune_on)
    metrics["best_valid_micro_f1"] = best
    metrics["parameters"] = best_model.num_parameters()
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out_dir / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    return metrics


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="TAILOR aligned file (torch.save dict) or a product .npz")
    p.add_argument("--unaligned", help="MulT unaligned pickle (labels come from --data by position)")
    p.add_argument("--output", required=True, help="directory for the best checkpoint and metrics.json")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="bertadam",
                   help="bertadam: the authors' Adam (no bias correction, eps 1e-6, per-parameter clipping); "
                        "adamw: torch.optim.AdamW. Both: no decay on biases and LayerNorm (default: bertadam)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.1, help="fraction of steps for linear warm-up")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--init", help="start from this checkpoint directory's weights instead of a fresh draw "
                                  "(same architecture; e.g. benchmarks/bench_parity.py --init-from-authors)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--config", help="JSON file of TailorConfig fields overriding the paper's (e.g. hidden)")
    p.add_argument("--normalize-features", action="store_true",
                   help="store the training set's per-feature mean/std in the model and normalise inputs")
    p.add_argument("--calibrate", action="store_true",
                   help="fit per-label Platt scaling (temperature + offset) on validation (saved in config.json; "
                        "test ECE before/after in metrics.json)")
    p.add_argument("--tune-thresholds", action="store_true",
                   help="tune per-label thresholds on validation and store them in config.json")
    p.add_argument("--tune-on", choices=TUNE_ON, default="one-pass",
                   help="tune thresholds on one pass over each example (the paper) or on the app's summary of it "
                        "(the mean of its timeline windows: the demo checkpoint)")
    p.add_argument("--window-crop", type=float, default=0.0, metavar="P",
                   help="train on one of the app's summary windows of an example instead of the whole example with "
                        "this probability (aligned data; default 0: whole examples, as the paper)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="validate, keep and test an exponential moving average of the weights with this decay per "
                        "step (e.g. 0.998: about the last 500 steps); 0 (default): the raw weights, as the paper")
    p.add_argument("--resume", action="store_true", help="continue from --output/last if present")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--test-every-epoch", action="store_true",
                   help="also score the test set after every epoch, into history.json (learning curves only)")
    p.add_argument("--history-jsonl", help="append each epoch's record to this file as it finishes")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not math.isfinite(args.lr) or args.lr <= 0:
        print("error: --epochs and --batch-size must be >= 1 and --lr > 0", file=sys.stderr)
        return 2
    if not 0.0 <= args.ema < 1.0 or not 0.0 <= args.window_crop <= 1.0:
        print("error: --ema must be in [0, 1) and --window-crop in [0, 1]", file=sys.stderr)
        return 2
    try:
        metrics = train(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if metrics:
        print(json.dumps({k: metrics[k] for k in ("accuracy", "hamming_loss", "micro_f1", "macro_f1",
                                                  "micro_precision", "micro_recall", "macro_precision",
                                                  "macro_recall", "per_label_f1")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
