"""Parity benchmark: train the authors' TAILOR code and ours on the same generated MOSEI-format file, print both
learning curves side by side (epoch, validation / test micro-F1, training seconds per epoch).

    python benchmarks/bench_parity.py --reference ../shared/reference --seed 7 --epochs 12 --out runs/parity-s7

The default file is the full size, 768 / 192 / 384 samples (``--train/--valid/--test`` for smaller ones); each
12-epoch training is 40-60 min on one CPU thread and needs ~8 GB of memory (run at most two beside each other on a
24 GB machine).

Needs ``../shared/reference`` (the authors' code, ``run_authors.py``, ``make_mosei_like.py``; not part of this
repo, so this is a script and not a test). Both trainings run one after the other, each on ``--threads`` CPU
threads (default 1, so they compete for nothing). Ours runs ``python -m training.train`` with its
defaults (the paper configuration, ``--optimizer bertadam``) plus ``--test-every-epoch``, which scores the test
set after each epoch as ``run_authors.py`` does (model selection still uses validation alone).
Raw records go to ``--out``: ``authors.jsonl``, ``ours.jsonl``, ``table.md``. ``--reuse`` keeps a finished
``authors.jsonl`` / ``ours.jsonl`` instead of training again. ``--init-seed S`` changes torch's seed of both
(initial draw, dropout, batch order); ``--init-from-authors`` starts ours from exactly the authors' initial weights
(``parity_lockstep.authors_to_ours``). ``benchmarks/parity_lockstep.py`` checks the two codes step by step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: benchmarks/ and training/ importable, as in the other benchmarks


def _env(threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


_SEEDED = ("import runpy, sys, torch; seed = int(sys.argv.pop(1)); draw = torch.manual_seed; "
           "torch.manual_seed = lambda _: draw(seed); sys.argv[0] = sys.argv[1]; del sys.argv[1]; "
           "runpy.run_path(sys.argv[0], run_name='__main__')")


def run_authors(reference: Path, data: Path, epochs: int, out: Path, threads: int, init_seed: int = 42
                ) -> list[dict]:
    """Their train.py's loop (run_authors.py); one JSON line per epoch. ``init_seed`` other than 42 (the seed
    run_authors.py sets) runs it with torch's seed replaced, for a second draw of their initial weights and
    dropout masks without changing their script."""
    log = out / "authors.jsonl"
    script = str(reference / "run_authors.py")
    cmd = [sys.executable, script, str(data), str(epochs)]
    if init_seed != 42:
        cmd = [sys.executable, "-c", _SEEDED, str(init_seed), script, str(data), str(epochs)]
    with open(log, "w") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.DEVNULL, env=_env(threads))
    return _authors_rows(log)


def authors_init_checkpoint(reference: Path, init_seed: int, out: Path) -> Path:
    """Our model holding exactly the authors' initial weights for ``init_seed`` (what run_authors.py draws after
    ``torch.manual_seed``), saved as a checkpoint for ``training.train --init``."""
    import torch

    from benchmarks.parity_lockstep import authors_to_ours
    from tailor_core import TAILOR, TailorConfig

    torch.manual_seed(init_seed)
    theirs, _ = authors_model(reference)
    ours = TAILOR(TailorConfig())
    authors_to_ours(theirs, ours)
    return ours.save_pretrained(out / "authors_init")


def run_ours(data: Path, epochs: int, out: Path, threads: int, extra: list[str]) -> list[dict]:
    """``python -m training.train`` with the paper defaults; one record per epoch."""
    log = out / "ours.jsonl"
    log.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "training.train", "--data", str(data), "--output",
                    str(out / "ours"), "--epochs", str(epochs), "--device", "cpu", "--test-every-epoch",
                    "--history-jsonl", str(log), *extra], check=True, cwd=ROOT, env=_env(threads))
    return _ours_rows(log)


def _ours_rows(log: Path) -> list[dict]:
    return [{"epoch": r["epoch"], "valid": r["valid"]["micro_f1"], "test": r["test"]["micro_f1"],
             "seconds": r["train_seconds"]} for r in _read_jsonl(log)]


def _authors_rows(log: Path) -> list[dict]:
    return [{"epoch": r["epoch"], "valid": r["valid"]["micro_f1"], "test": r["test"]["micro_f1"],
             "seconds": r["secs"]} for r in _read_jsonl(log)]


def authors_model(reference: Path):
    """The authors' TAILOR in the paper configuration, freshly initialised from torch's global generator, and
    their ``BertAdam`` class. Their code imports boto3/botocore for downloads it never does here (empty stand-ins
    are made) and finds its configs relative to its own folder."""
    import tempfile

    stubs = Path(tempfile.mkdtemp())
    for pkg in ("boto3", "botocore"):
        (stubs / pkg).mkdir()
        (stubs / pkg / "__init__.py").write_text("")
    (stubs / "botocore" / "exceptions.py").write_text("class ClientError(Exception):\n    pass\n")
    sys.path[:0] = [str(reference / "tailor-authors"), str(stubs), str(ROOT)]
    cwd = os.getcwd()
    os.chdir(reference / "tailor-authors" / "src" / "models")
    try:
        from src.models.models import TAILOR as Authors
        from src.models.optimization import BertAdam

        task = argparse.Namespace(num_classes=6, aligned=True, max_frames=60, max_sequence=60, max_words=60,
                                  bert_num_hidden_layers=6, visual_num_hidden_layers=4, audio_num_hidden_layers=4,
                                  cross_num_hidden_layers=3, decoder_num_hidden_layers=1, hidden_size=256,
                                  text_dim=300, video_dim=35, audio_dim=74, local_rank=0)
        model = Authors.from_pretrained("bert-base", "visual-base", "audio-base", "cross-base", "decoder-base",
                                        task_config=task)
    finally:
        os.chdir(cwd)
    return model, BertAdam


def speed(reference: Path, steps: int, batch: int = 64) -> dict[str, float]:
    """Median seconds of one training step (forward, loss, backward, optimiser) at batch ``batch`` on random
    MOSEI-sized inputs, the two models alternating in this process so both see the same machine load."""
    import statistics
    import time

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    theirs, AuthorsAdam = authors_model(reference)
    from tailor_core import TAILOR, TailorConfig
    from training.losses import tailor_loss
    from training.optim import make_optimizer

    cfg = TailorConfig()
    ours = TAILOR(cfg)
    opt_theirs = AuthorsAdam(theirs.parameters(), lr=5e-5, warmup=0.1, t_total=1000)
    opt_ours = make_optimizer("bertadam", ours, 5e-5, 0.01)
    g = torch.Generator().manual_seed(0)
    t, a, v = (torch.randn(batch, 60, d, generator=g) for d in (300, 74, 35))
    y = (torch.rand(batch, 6, generator=g) > 0.7).float()
    ones, labels, label_mask = torch.ones(batch, 60, dtype=torch.long), torch.arange(6), torch.ones(6).long()

    def step_theirs() -> None:
        loss, *_ = theirs(t, ones, v, ones, a, ones, labels, label_mask, groundTruth_labels=y, training=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        opt_theirs.step()
        opt_theirs.zero_grad()

    def step_ours() -> None:
        tailor_loss(ours(t, a, v), y, cfg).total.backward()
        torch.nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
        opt_ours.step()
        opt_ours.zero_grad()

    times: dict[str, list[float]] = {"authors": [], "ours": []}
    for i in range(steps + 1):
        for name, fn in (("authors", step_theirs), ("ours", step_ours)):
            t0 = time.perf_counter()
            fn()
            if i:  # the first step of each warms up allocators
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def table(authors: list[dict], ours: list[dict]) -> str:
    """Markdown table of both curves, then the best-validation epoch of each and the mean epoch time."""
    lines = ["| epoch | authors val | authors test | authors s | ours val | ours test | ours s |",
             "|---|---|---|---|---|---|---|"]
    blank = {"valid": float("nan"), "test": float("nan"), "seconds": float("nan")}
    for e in range(max(len(authors), len(ours))):
        a = authors[e] if e < len(authors) else blank
        o = ours[e] if e < len(ours) else blank
        lines.append(f"| {e + 1} | {a['valid']:.3f} | {a['test']:.3f} | {a['seconds']:.0f} | {o['valid']:.3f} | "
                     f"{o['test']:.3f} | {o['seconds']:.0f} |")
    for name, rows in (("authors", authors), ("ours", ours)):
        if rows:
            best = max(rows, key=lambda r: r["valid"])  # first epoch with the best validation micro-F1
            mean_s = sum(r["seconds"] for r in rows) / len(rows)
            lines.append(f"\n{name}: last epoch test {rows[-1]['test']:.3f}; best validation epoch {best['epoch']} "
                         f"(val {best['valid']:.3f}, test {best['test']:.3f}); mean epoch {mean_s:.0f} s; "
                         f"epochs at validation micro-F1 0: {sum(r['valid'] == 0 for r in rows)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference",
                   help="folder with run_authors.py, make_mosei_like.py and tailor-authors/")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=7, help="seed of the generated file")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--train", type=int, default=768)
    p.add_argument("--valid", type=int, default=192)
    p.add_argument("--test", type=int, default=384)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, help="use this MOSEI-format file instead of generating one")
    p.add_argument("--reuse", action="store_true", help="keep finished authors.jsonl / ours.jsonl in --out")
    p.add_argument("--skip-authors", action="store_true")
    p.add_argument("--skip-ours", action="store_true")
    p.add_argument("--speed-steps", type=int, default=0,
                   help="also time N training steps of each model, alternating in one process (same load)")
    p.add_argument("--init-seed", type=int, default=42,
                   help="torch seed of both trainings (initial draw, dropout, batch order); 42 as run_authors.py")
    p.add_argument("--init-from-authors", action="store_true",
                   help="start ours from the authors' initial weights for --init-seed (names mapped)")
    p.add_argument("--ours-args", default="", help="extra arguments for our trainer, e.g. '--optimizer adamw'")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.data
    if data is None:
        data = args.out / f"mosei_like_s{args.seed}.pt"
        if not data.is_file():
            subprocess.run([sys.executable, str(args.reference / "make_mosei_like.py"), str(data), "--seed",
                            str(args.seed), "--train", str(args.train), "--valid", str(args.valid), "--test",
                            str(args.test)], check=True, env=_env(args.threads))

    authors = _authors_rows(args.out / "authors.jsonl") if args.reuse else []
    if not args.skip_authors and len(authors) < args.epochs:
        authors = run_authors(args.reference.resolve(), data.resolve(), args.epochs, args.out, args.threads,
                              args.init_seed)
    ours = _ours_rows(args.out / "ours.jsonl") if args.reuse else []
    if not args.skip_ours and len(ours) < args.epochs:
        extra = ["--seed", str(args.init_seed), *args.ours_args.split()]
        if args.init_from_authors:
            extra += ["--init", str(authors_init_checkpoint(args.reference.resolve(), args.init_seed,
                                                            args.out.resolve()))]
        ours = run_ours(data.resolve(), args.epochs, args.out.resolve(), args.threads, extra)
    text = table(authors, ours)
    if args.speed_steps:
        sp = speed(args.reference.resolve(), args.speed_steps)
        text += (f"\n\ntraining step, batch 64, {args.threads} thread(s), median of {args.speed_steps} alternating: "
                 f"authors {sp['authors']:.2f} s, ours {sp['ours']:.2f} s")
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
