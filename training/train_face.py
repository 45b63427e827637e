"""Train the face-expression CNN (``features/face_expression.py``) on FER+ vote distributions.

Input: the crop cache written by ``face_crops.py`` (aligned 60x60 crops from the app's own pipeline).
Training images where "unknown" or "not a face" wins, or where no face was found, are dropped; the target is
the vote distribution over the 8 expression classes (FER+ "probability" mode, soft cross-entropy).
Augmentation, one affine warp per image: random 48x48 window of the 60x60 crop (shift up to +-4 px), rotation
+-10 degrees, scale +-8%, horizontal flip. AdamW + one-cycle schedule; the epoch with the best validation
majority-vote accuracy is kept. Writes fp16 safetensors + a JSON config.

    OMP_NUM_THREADS=1 python -m training.train_face --cache /work/enc-cache/fer_crops \
        --out assets --epochs 10 --width 24 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tailor_core.features.face_expression import (
    CACHE_SIDE,
    CLASSES,
    CONFIG_FILENAME,
    CROP_SIDE,
    EMBED_DIM,
    N_CLASSES,
    WEIGHTS_FILENAME,
    build_net,
)


def kept(votes: np.ndarray) -> np.ndarray:
    """[N] bool: images whose vote winner is an expression (FER+ convention: "unknown"/"NF" winners dropped)."""
    v = votes.astype(np.float32)
    return (v[:, :N_CLASSES].max(1) >= v[:, N_CLASSES:].max(1)) & (v[:, :N_CLASSES].sum(1) > 0)


def load_split(cache: Path, split: str, train: bool) -> dict[str, np.ndarray]:
    d = dict(np.load(cache / f"{split}.npz"))
    keep = kept(d["votes"])
    if train:
        keep &= d["found"]
    return {k: v[keep] for k, v in d.items()}


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """[B,1,60,60] -> [B,1,48,48] random affine view (shift, rotation, scale, flip) of each crop."""
    b = x.shape[0]
    r = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=gen)
    ang = r(-10, 10) * math.pi / 180
    sc = r(0.92, 1.08) * CROP_SIDE / CACHE_SIDE  # 48-px window of the 60-px crop
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    shift = 4.0 / (CACHE_SIDE / 2)
    tx, ty = r(-shift, shift), r(-shift, shift)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = sc * torch.cos(ang) * flip
    theta[:, 0, 1] = -sc * torch.sin(ang)
    theta[:, 1, 0] = sc * torch.sin(ang) * flip
    theta[:, 1, 1] = sc * torch.cos(ang)
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, (b, 1, CROP_SIDE, CROP_SIDE), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def center(x: torch.Tensor) -> torch.Tensor:
    o = (CACHE_SIDE - CROP_SIDE) // 2
    return x[:, :, o : o + CROP_SIDE, o : o + CROP_SIDE]


@torch.no_grad()
def predict(net, crops: np.ndarray, bs: int = 512) -> tuple[np.ndarray, np.ndarray]:
    net.eval()
    es, ps = [], []
    for i in range(0, len(crops), bs):
        x = center(torch.from_numpy(crops[i : i + bs]).float()[:, None] / 255.0)
        e, logit = net(x)
        es.append(e.numpy())
        ps.append(torch.softmax(logit, -1).numpy())
    return np.concatenate(es), np.concatenate(ps)


def accuracy(pred: np.ndarray, votes: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """Majority-vote accuracy with missed faces counted as errors: strict (argmax of the votes, ties -> first
    class), tie-tolerant (a prediction among the top-voted classes counts), on found faces only, 8-class
    macro-F1. ``pred`` [N] class ids, ``votes`` [N, >=8], ``found`` [N] bool."""
    from sklearn.metrics import f1_score

    v = votes[:, :N_CLASSES]
    strict = (pred == v.argmax(1)) & found
    tol = (v[np.arange(len(v)), pred] == v.max(1)) & found
    f1 = f1_score(v.argmax(1), np.where(found, pred, -1), labels=list(range(N_CLASSES)), average="macro",
                  zero_division=0)  # a missed face is a wrong answer
    return {"acc": round(float(strict.mean()), 4), "acc_ties_ok": round(float(tol.mean()), 4),
            "acc_on_found_faces": round(float(strict[found].mean()), 4), "macro_f1_8": round(float(f1), 4)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="debug: first N training images")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    tr, va = load_split(args.cache, "train", True), load_split(args.cache, "valid", False)
    if args.limit:
        tr = {k: v[: args.limit] for k, v in tr.items()}
    xtr = torch.from_numpy(tr["crops"]).float()[:, None] / 255.0
    ytr = torch.from_numpy(tr["votes"][:, :N_CLASSES].astype(np.float32))
    ytr = ytr / ytr.sum(1, keepdim=True)
    net = build_net(width=args.width)
    n_par = sum(p.numel() for p in net.parameters())
    print(f"train {len(xtr)} valid {len(va['crops'])} params {n_par}", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    steps = args.epochs * math.ceil(len(xtr) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    best, best_state, t0 = -1.0, None, time.time()
    for ep in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot = 0.0
        for i in range(0, len(perm), args.batch):
            idx = perm[i : i + args.batch]
            _, logit = net(augment(xtr[idx], gen))
            loss = -(ytr[idx] * F.log_softmax(logit, -1)).sum(1).mean()  # soft cross-entropy on votes
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        _, pv = predict(net, va["crops"])
        m = accuracy(pv.argmax(1), va["votes"], va["found"])
        print(f"epoch {ep + 1} loss {tot / len(xtr):.4f} valid {json.dumps(m)} {time.time() - t0:.0f}s", flush=True)
        if m["acc"] > best:
            best, best_state = m["acc"], {k: v.detach().clone() for k, v in net.state_dict().items()}
            save(net, best_state, args, n_par, best, time.time() - t0)
            net.train()
    print(json.dumps(save(net, best_state, args, n_par, best, time.time() - t0)), flush=True)


def save(net, state: dict, args: argparse.Namespace, n_par: int, best: float, seconds: float) -> dict:
    """Write ``state`` as fp16 safetensors + JSON config (called after every improving epoch, so an interrupted
    run still leaves its best model)."""
    from safetensors.torch import save_file

    net.load_state_dict(state)
    args.out.mkdir(parents=True, exist_ok=True)
    # fp16 halves the file; BN running stats and weights lose nothing measurable at this size
    save_file({k: v.half().contiguous() for k, v in state.items() if v.is_floating_point()},
              str(args.out / WEIGHTS_FILENAME))
    cfg = {"width": args.width, "embed_dim": EMBED_DIM, "n_classes": N_CLASSES, "classes": list(CLASSES),
           "crop_side": CROP_SIDE, "params": n_par, "seed": args.seed, "epochs": args.epochs,
           "best_valid_acc": round(best, 4), "train_seconds": round(seconds)}
    (args.out / CONFIG_FILENAME).write_text(json.dumps(cfg, indent=1) + "\n")
    return cfg


if __name__ == "__main__":
    main()
