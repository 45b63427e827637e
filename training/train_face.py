"""Train the face-expression CNN (``features/face_expression.py``) on FER+ vote distributions.

Input: the crop cache written by ``face_crops.py`` (aligned 60x60 crops from the app's own pipeline).
Training images where "unknown" or "not a face" wins, or where no face was found, are dropped; the target is
the vote distribution over the 8 expression classes (FER+ "probability" mode, soft cross-entropy).
Augmentation, one affine warp per image: random 48x48 window of the 60x60 crop (shift up to +-4 px), rotation
+-10 degrees, scale +-8%, horizontal flip. AdamW + one-cycle schedule; the epoch with the best validation
majority-vote accuracy is kept. Writes fp16 safetensors + a JSON config.

``--video-aug SHARE`` adds, to that share of the training images, what a webcam or phone frame does to a face
that FER+'s posed stills do not show (:func:`video_degrade`): uneven and dim or harsh light (gamma, contrast, a
brightness gradient across the face), defocus and motion blur, block-DCT quantisation as JPEG does it, sensor
noise, and a head turned or tilted (a horizontal or vertical bend of the crop that squeezes one side of the face
and widens the other).

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


def augment(x: torch.Tensor, gen: torch.Generator, video: float = 0.0) -> torch.Tensor:
    """[B,1,60,60] -> [B,1,48,48] random affine view (shift, rotation, scale, flip) of each crop; a share
    ``video`` (0-1) of them also gets a head turn / tilt (a bend of up to 0.15 / 0.08 of the half-width) and
    :func:`video_degrade`."""
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
    if video > 0:  # the draws above stay the same, so the plain recipe reproduces
        # share 1 draws nothing more (the first --video-aug runs had no share and stay reproducible)
        chosen = torch.ones(b, dtype=torch.bool) if video >= 1 else torch.rand(b, generator=gen) < video
        yaw, pitch = r(-0.15, 0.15) * chosen, r(-0.08, 0.08) * chosen
        grid = torch.stack([grid[..., 0] + yaw[:, None, None] * (1 - grid[..., 0] ** 2),
                            grid[..., 1] + pitch[:, None, None] * (1 - grid[..., 1] ** 2)], -1)
        x = torch.where(chosen[:, None, None, None], video_degrade(x, gen), x)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# JPEG's luminance quantisation table (ITU-T T.81, Annex K), scaled by quality as libjpeg does
_JPEG_Q = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=torch.float32)


def _dct_matrix(n: int = 8) -> torch.Tensor:
    k, i = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


def block_codec(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """[B,1,H,W] in [0, 1] -> the same after 8x8 block-DCT quantisation at JPEG ``quality`` [B] (1-100)."""
    b, _, h, w = x.shape
    ph, pw = -h % 8, -w % 8
    y = F.pad(x * 255 - 128, (0, pw, 0, ph), mode="replicate")[:, 0]
    hh, ww = y.shape[1] // 8, y.shape[2] // 8
    blocks = y.reshape(b, hh, 8, ww, 8).permute(0, 1, 3, 2, 4)  # [B, hh, ww, 8, 8]
    d = _dct_matrix()
    scale = torch.where(quality < 50, 5000 / quality, 200 - 2 * quality) / 100
    q = (_JPEG_Q[None] * scale[:, None, None]).clamp(min=1)[:, None, None]  # [B, 1, 1, 8, 8]
    coef = torch.round((d @ blocks @ d.T) / q) * q
    out = (d.T @ coef @ d).permute(0, 1, 3, 2, 4).reshape(b, hh * 8, ww * 8)
    return ((out[:, None, :h, :w] + 128) / 255).clamp(0, 1)


def _blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-image 2-D blur: ``x`` [B,1,H,W], ``kernels`` [B,k,k] (each sums to 1)."""
    b, k = x.shape[0], kernels.shape[-1]
    padded = F.pad(x, (k // 2,) * 4, mode="replicate").transpose(0, 1)  # [1,B,H+k-1,W+k-1]: one group per image
    return F.conv2d(padded, kernels[:, None], groups=b).transpose(0, 1)


def video_degrade(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """[B,1,H,W] crops in [0, 1] -> the same faces as a webcam or phone video frame might show them.

    Each image draws its own: light (always: gamma 0.6-1.6, contrast 0.6-1.2, a brightness gradient of up to
    +-35% across the face in a random direction), blur (half: Gaussian sigma 0.3-1.2 px, or a 3-5 px motion
    streak), a lossy codec (half: 8x8 block-DCT quantisation at JPEG quality 15-70) and sensor noise (half:
    sigma up to 3% of the range). The 48-px crop of a large video face is area-averaged from the frame, so the
    blur and codec sizes are those left at 48 px, not the camera's.
    """
    b, _, h, w = x.shape
    r = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=gen)
    pick = lambda p: torch.rand(b, generator=gen) < p
    # light
    ang = r(0, 2 * math.pi)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    ramp = 1 + r(-0.35, 0.35)[:, None, None] * (torch.cos(ang)[:, None, None] * xx + torch.sin(ang)[:, None, None] * yy)
    mean = x.mean((2, 3), keepdim=True)
    x = ((x - mean) * r(0.6, 1.2)[:, None, None, None] + mean).clamp(0, 1)
    x = (x.clamp_min(1e-4) ** r(0.6, 1.6)[:, None, None, None] * ramp[:, None]).clamp(0, 1)
    # blur: Gaussian or a motion streak, 5x5 kernels
    k = 5
    t = torch.arange(k, dtype=torch.float32) - k // 2
    sig = r(0.3, 1.2)[:, None, None]
    gauss = torch.exp(-(t[None, :, None] ** 2 + t[None, None, :] ** 2) / (2 * sig**2))
    theta, length = r(0, math.pi), r(3, 5)
    ty, tx, c, s = t[None, :, None], t[None, None, :], torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    dist, along = (ty * c - tx * s).abs(), (ty * s + tx * c).abs()  # off / along the streak's direction
    streak = ((dist < 0.5) & (along <= length[:, None, None] / 2)).float() + 1e-6
    kern = torch.where(pick(0.5)[:, None, None], gauss, streak)
    kern = kern / kern.sum((1, 2), keepdim=True)
    ident = torch.zeros(k, k)
    ident[k // 2, k // 2] = 1
    kern = torch.where(pick(0.5)[:, None, None], kern, ident)
    x = _blur(x, kern)
    # codec, then sensor noise
    coded = block_codec(x, r(15, 70))
    x = torch.where(pick(0.5)[:, None, None, None], coded, x)
    noise = torch.randn(x.shape, generator=gen) * r(0, 0.03)[:, None, None, None]
    return torch.where(pick(0.5)[:, None, None, None], (x + noise).clamp(0, 1), x)


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
    ap.add_argument("--video-aug", type=float, default=0.0, metavar="SHARE",
                    help="share of training images (0-1) that also get a head turn and video_degrade")
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
            _, logit = net(augment(xtr[idx], gen, args.video_aug))
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
           "video_aug": args.video_aug,
           "best_valid_acc": round(best, 4), "train_seconds": round(seconds)}
    (args.out / CONFIG_FILENAME).write_text(json.dumps(cfg, indent=1) + "\n")
    return cfg


if __name__ == "__main__":
    main()
