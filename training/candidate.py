"""A candidate checkpoint, end to end: build the demo data, train seeds, measure each as the model card does, and
put the figures a ship rule reads in one table beside the shipped checkpoint's.

    python -m training.candidate --data ../shared/data --work /work/cand --seeds 42,43,44 \\
        [--words WORDS_DIR] [--face FACE_DIR] [--prepare-args "--voice-aug-share 0.5"] [--jobs 2]
    python -m training.candidate --data ../shared/data --work /work/cand --steps summary   # the table again

Steps (``--steps``, in this order; a step whose output exists is skipped, so a stopped run resumes):

* ``prepare``: ``training.prepare_demo`` into ``WORK/cache`` (~30 min on 2 cores).
* ``train``: the shipped recipe (``RECIPE``, the model card's command) once per seed into ``WORK/seed<N>/run``,
  ``--jobs`` at a time with the cores split between them (~17 min a seed on 2 threads).
* ``evaluate``: per seed, ``report_demo`` (``results.json``), ``scripts.check_demo`` (``check_demo.md``),
  ``bench_words_domains`` (``words_domains.json``) and ``bench_clip_rules`` (``clip_rules.json``) (~15 min a seed).
* ``summary``: ``WORK/summary.md`` and ``summary.json``: each seed's figures, their mean, and the shipped
  checkpoint's from its committed records (:data:`SHIPPED_RECORDS`).

``--words`` / ``--face`` name folders holding a candidate words encoder (``text_emotion.safetensors`` + json) or
face network (``face_expression.safetensors`` + json): every step reads them through the runtime's override
variables (their hashes are then not checked), so ``assets/`` is never touched. Write the ship rule first and
commit it; this script measures, it does not decide.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tailor_core.features.face_expression import MODEL_ENV as FACE_ENV
from tailor_core.features.text_emotion import MODEL_ENV as WORDS_ENV
from tailor_core.resources import HOME_ENV

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("prepare", "train", "evaluate", "summary")
# The shipped checkpoint's training command (checkpoints/README.md, "Rebuild it"), less --data/--output/--seed.
RECIPE = ("--config configs/demo.json --normalize-features --calibrate --tune-thresholds --tune-on summary "
          "--epochs 8 --lr 1e-3 --batch-size 64 --window-crop 0.5 --ema 0.998")
# The shipped checkpoint's figures, from the records its model card cites.
SHIPPED_RECORDS = {"results": ROOT / "checkpoints" / "tailor-demo" / "results.json",
                   "metrics": ROOT / "checkpoints" / "tailor-demo" / "metrics.json",
                   "words_domains": ROOT / "benchmarks" / "results" / "words_typed.json",
                   "clip_rules": ROOT / "benchmarks" / "results" / "clip_rules.json"}
REAL_TAKE_GROUPS = ("examples", "clips")  # bench_clip_rules: the two example clips, the three Actor_05 takes
REAL_TAKE_VARIANTS = ("base", "sil10", "sil44", "aac64_48k", "aac32_16k", "opus24_48k")


def run_env(words: Path | None, face: Path | None, home: Path | None = None, threads: int | None = None) -> dict:
    """The environment every step runs in: candidate encoders by override, the seed's checkpoint by TAILOR_HOME."""
    env = dict(os.environ)
    if words:
        env[WORDS_ENV] = str(words / "text_emotion.safetensors")
    if face:
        env[FACE_ENV] = str(face / "face_expression.safetensors")
    if home:
        env[HOME_ENV] = str(home)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def call(cmd: list[str], env: dict, log: Path, stdout: Path | None = None) -> None:
    """Run one step from the repository root, its stderr (and stdout unless captured) appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(log, "a") as err, open(stdout or log, "a") as out:
        err.write(f"$ {shlex.join(cmd)}\n")
        err.flush()
        rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
    print(f"  {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.time() - t0:.0f} s: {shlex.join(cmd[1:4])} ...",
          flush=True)
    if rc != 0 and cmd[2] != "scripts.check_demo":  # check_demo exits 1 when a check fails: that is a figure
        raise SystemExit(f"{shlex.join(cmd)} failed ({rc}); see {log}")


def seed_home(work: Path, seed: int) -> Path:
    """A TAILOR_HOME whose ``checkpoints/tailor-demo`` is the seed's run (``assets/`` fall back to the repo's)."""
    home = work / f"seed{seed}" / "home"
    link = home / "checkpoints" / "tailor-demo"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to((work / f"seed{seed}" / "run").resolve(), target_is_directory=True)
    return home


def train(args: argparse.Namespace, seed: int, threads: int) -> None:
    out = args.work / f"seed{seed}"
    if (out / "run" / "model.safetensors").exists():
        return
    cmd = [sys.executable, "-m", "training.train", "--data", str(args.work / "cache" / "demo.npz"),
           "--output", str(out / "run"), "--seed", str(seed), *shlex.split(RECIPE), *shlex.split(args.train_args)]
    call(cmd, run_env(args.words, args.face, threads=threads), out / "log.txt")


def evaluate(args: argparse.Namespace, seed: int, threads: int) -> None:
    out = args.work / f"seed{seed}"
    run, py = out / "run", sys.executable
    env = run_env(args.words, args.face, seed_home(args.work, seed), threads)
    steps = [("results.json", [py, "-m", "training.report_demo", "--checkpoint", str(run), "--cache",
                               str(args.work / "cache"), "--data", str(args.data),
                               "--output", str(out / "results.json")]),
             ("check_demo.md", [py, "-m", "scripts.check_demo", "--checkpoint", str(run)]),
             ("words_domains.json", [py, "benchmarks/bench_words_domains.py", "--data", str(args.data),
                                     "--checkpoint", str(run), "--out", str(out / "words_domains.json")]),
             ("clip_rules.json", [py, "benchmarks/bench_clip_rules.py", "--data", str(args.data),
                                  "--out", str(out / "clip_rules.json")])]
    for name, cmd in steps:
        if not (out / name).exists():
            call(cmd, env, out / "log.txt", stdout=out / name if name.endswith(".md") else None)


def figures(results: dict, metrics: dict, words: dict, clips: dict) -> dict[str, float]:
    """The figures a ship rule reads, from one checkpoint's records (see the model card for each)."""
    real = [clips["summary"][group] for group in REAL_TAKE_GROUPS]
    single = results["single_modality"]
    return {
        "best_valid_micro_f1": metrics["best_valid_micro_f1"],
        "app_guarded_micro_f1": results["fused_app_guarded"]["tuned"]["micro_f1"],
        "voice_alone_micro_f1": single["audio"]["tailor"]["tuned"]["micro_f1"],
        "words_alone_micro_f1": single["text"]["tailor"]["tuned"]["micro_f1"],
        "face_alone_majority_vote": single["visual"]["tailor_majority_vote"]["accuracy"],
        "summary_ece_max": max(results["fused_app_summary"]["ece"].values()),
        "attribution": results["attribution"]["attribution_accuracy"],
        "real_takes_right_of_30": round(sum(g[v]["clip_acc"] * g[v]["n"] for g in real for v in REAL_TAKE_VARIANTS)),
        "real_takes_right_in_every_variant": sum(g["right_in_every_variant"]["clip"] for g in real),
        **{f"typed_{name}_{k}": words["sets"][name][k] for name in ("meld_dev", "goemotions_test", "semeval_held_out")
           for k in ("top_emotion_6", "macro_f1_6")},
    }


def summary(work: Path, seeds: list[int]) -> dict:
    """Each seed's figures (those whose four records exist), their mean, and the shipped checkpoint's."""
    def load(paths: dict[str, Path]) -> dict[str, float] | None:
        if not all(p.exists() for p in paths.values()):
            return None
        r = {k: json.loads(p.read_text()) for k, p in paths.items()}
        return figures(r["results"], r["metrics"], r["words_domains"], r["clip_rules"])

    columns = {"shipped": load(SHIPPED_RECORDS)}
    for s in seeds:
        d = work / f"seed{s}"
        columns[f"seed {s}"] = load({"results": d / "results.json", "metrics": d / "run" / "metrics.json",
                                     "words_domains": d / "words_domains.json", "clip_rules": d / "clip_rules.json"})
    done = [c for k, c in columns.items() if k != "shipped" and c]
    if done:
        columns["seed mean"] = {k: round(sum(c[k] for c in done) / len(done), 4) for k in done[0]}
    names = [k for k, c in columns.items() if c]
    rows = [f"| figure | {' | '.join(names)} |", "|---|" + "---:|" * len(names)]
    for fig in next(c for c in columns.values() if c):
        rows.append(f"| {fig} | " + " | ".join(f"{columns[n][fig]:.4g}" for n in names) + " |")
    (work / "summary.md").write_text("\n".join(rows) + "\n")
    (work / "summary.json").write_text(json.dumps(columns, indent=1) + "\n")
    print("\n".join(rows))
    return columns


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                epilog="Write and commit the ship rule before running it.")
    p.add_argument("--data", type=Path, required=True, help="../shared/data")
    p.add_argument("--work", type=Path, required=True, help="a folder outside the repo for the cache and the runs")
    p.add_argument("--seeds", default="42,43,44")
    p.add_argument("--words", type=Path, default=None, help="folder of a candidate words encoder (default: assets/)")
    p.add_argument("--face", type=Path, default=None, help="folder of a candidate face network (default: assets/)")
    p.add_argument("--prepare-args", default="", help="extra arguments for training.prepare_demo")
    p.add_argument("--train-args", default="", help="extra arguments for training.train, after the recipe's")
    p.add_argument("--jobs", type=int, default=2, help="seeds trained and evaluated at once")
    p.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    steps = args.steps.split(",")
    if unknown := set(steps) - set(STEPS):
        p.error(f"unknown steps {sorted(unknown)}")
    for folder, name in ((args.words, "text_emotion"), (args.face, "face_expression")):
        if folder and not (folder / f"{name}.safetensors").is_file():
            p.error(f"{folder} holds no {name}.safetensors")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.work = args.work.resolve()
    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    if "prepare" in steps and not (args.work / "cache" / "demo.npz").exists():
        print("prepare", flush=True)
        call([sys.executable, "-m", "training.prepare_demo", "--data", str(args.data), "--out",
              str(args.work / "cache"), *shlex.split(args.prepare_args)], run_env(args.words, args.face),
             args.work / "prepare.log")
    for step, fn in (("train", train), ("evaluate", evaluate)):
        if step in steps:
            print(f"{step}: seeds {seeds}, {args.jobs} at a time, {threads} thread(s) each", flush=True)
            with ThreadPoolExecutor(max(1, args.jobs)) as pool:
                list(pool.map(lambda s, fn=fn: fn(args, s, threads), seeds))
    if "summary" in steps:
        summary(args.work, seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
