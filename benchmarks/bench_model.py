"""TAILOR model cost on this machine: parameters, forward latency (paper config, aligned MOSEI sizes, CPU,
batch 1 and 64) and training throughput (samples/s).

    python benchmarks/bench_model.py [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from tailor_core import TAILOR, TailorConfig  # noqa: E402
from training.losses import tailor_loss  # noqa: E402


def batch(cfg: TailorConfig, n: int, device: str):
    return (torch.randn(n, cfg.text_len, cfg.text_dim, device=device),
            torch.randn(n, cfg.audio_len, cfg.audio_dim, device=device),
            torch.randn(n, cfg.visual_len, cfg.visual_dim, device=device))


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TailorConfig()
    model = TAILOR(cfg).to(args.device)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}")
    print("| measure | value |\n|---|---|")
    print(f"| parameters (paper config) | {model.num_parameters() / 1e6:.2f} M |")
    model.eval()
    for n in (1, 64):
        x = batch(cfg, n, args.device)
        with torch.inference_mode():
            t = timed(lambda x=x: model(*x), args.repeats)
        print(f"| forward, batch {n} | {t * 1000:.1f} ms ({n / t:.0f} samples/s) |")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    x = batch(cfg, 64, args.device)
    y = (torch.rand(64, 6, device=args.device) > 0.7).float()

    def step():
        terms = tailor_loss(model(*x), y, cfg)
        opt.zero_grad()
        terms.total.backward()
        opt.step()

    t = timed(step, max(2, args.repeats // 2))
    print(f"| training step, batch 64 | {t * 1000:.0f} ms ({64 / t:.0f} samples/s) |")


if __name__ == "__main__":
    main()
