"""Batch throughput: today's in-process CLI against the batch command (in-process and on local Ray with 1 and 2
workers) on the same ~40 short clips, in one run. Not a test.

    python benchmarks/bench_batch.py [--clips 40] [--out benchmarks/results/batch.json]

The clips are copies of the project's short media (assets/ and tests/fixtures/: RAVDESS speech clips, a silent
face clip, a no-face clip, a voice recording), renamed, in a temporary folder. Each configuration runs as its
own process, as a user would run it, so the model loading (and Ray's start) is part of its wall time:

* ``cli``: ``python -m tailor_core.cli FOLDER --csv``;
  torch uses every core.
* ``batch_local``: ``python -m tailor_core.batch FOLDER --engine local`` (one process, no Ray).
* ``ray_1``, ``ray_2``: ``python -m tailor_core.batch FOLDER --engine ray --cpus 2 --workers N`` (N actors
  of 1 CPU each; each loads the model once).
* ``load``: loading the model and extractors in a fresh process (what every worker pays once).
* ``long``: one minute-long clip (the 3 s example clip looped 18 times, remuxed), in-process: the per-second
  cost once per-file costs are spread out.

Reported per configuration: wall seconds, files per minute, clip-minutes per wall-minute, core-seconds per
clip-minute (wall x cores it may use / clip-minutes) and, for the batch runs, the per-file stage times the
actors record (features = decoding + face + voice + speech-to-text + words; model = TAILOR's windows) and the
start-up (wall minus the time spent on files, per worker) and the CPU time the workers spent per clip-second
(all threads; robust to other work on the machine, unlike wall time). The scores of every batch run are
compared with the CLI's. The per-stage figures feed docs/scale.md's estimates for a large archive. The machine
is shared: the load average before and after each run is recorded.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCES = [ROOT / "assets" / n for n in ("ravdess_happy.mp4", "ravdess_sad.mp4", "pexels_silent.mp4",
                                         "ravdess_fearful.wav")]
SOURCES += [ROOT / "tests" / "fixtures" / n for n in ("ravdess_happy_kids.mp4", "ravdess_fearful_kids.mp4",
                                                      "single_face.mp4", "no_face.mp4", "pexels_silent_face.mp4")]


def make_clips(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = SOURCES[i % len(SOURCES)]
        dst = folder / f"clip{i:03d}_{src.stem}{src.suffix}"
        shutil.copy(src, dst)
        out.append(dst)
    return out


def loop_clip(src: Path, dst: Path, times: int) -> Path:
    """``src`` played ``times`` times in a row, remuxed without re-encoding (a long recording to measure the
    per-second cost once per-file costs, such as Whisper's 30 s window, are spread over a minute)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        offsets = dict.fromkeys(streams, 0)
        for _ in range(times):
            inp.seek(0)
            last = dict(offsets)
            for pkt in inp.demux(*[inp.streams[i] for i in streams]):
                if pkt.dts is None:
                    continue
                i = pkt.stream.index
                pkt.pts, pkt.dts = (pkt.pts or 0) + offsets[i], pkt.dts + offsets[i]
                last[i] = max(last[i], pkt.pts + (pkt.duration or 0))
                pkt.stream = streams[i]
                out.mux(pkt)
            offsets = last
    return dst


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd``; its wall time and the CPU time of the processes it waited for (for the CLI: all of it; for
    Ray: the driver and what it reaped, not the actors, whose CPU time each result row records)."""
    load0, cpu0 = os.getloadavg()[0], _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    return {"cmd": " ".join(cmd[1:]), "rc": proc.returncode, "wall_s": round(wall, 2),
            "process_cpu_s": round(_children_cpu() - cpu0, 1), "loadavg_before": round(load0, 2),
            "loadavg_after": round(os.getloadavg()[0], 2), "tail": tail}


def batch_stats(out: Path, wall: float, workers: int) -> dict:
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "results.parquet").to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    busy = sum(r["seconds"] for r in rows)
    clip_s = sum(r["duration"] for r in ok)
    return {
        "files": len(rows), "errors": len(rows) - len(ok), "clip_minutes": round(clip_s / 60, 3),
        "per_file_s_mean": round(busy / max(len(rows), 1), 3),
        "features_s_per_clip_s": round(sum(r["t_features"] for r in ok) / clip_s, 4),
        "model_s_per_clip_s": round(sum(r["t_model"] for r in ok) / clip_s, 4),
        "scoring_s_per_clip_s": round(busy / clip_s, 4),
        # CPU time the actors spent on the files (all threads): what the work costs, whatever else ran
        "cpu_s_per_clip_s": round(sum(r["cpu_seconds"] for r in rows) / clip_s, 4),
        "cpu_s_per_file": round(sum(r["cpu_seconds"] for r in rows) / max(len(rows), 1), 3),
        "startup_s": round(wall - busy / workers, 1),
        "workers_seen": len({r["worker"] for r in rows}),
        "scores": {Path(r["path"]).name: {k[6:]: r[k] for k in r if k.startswith("score_")} for r in ok},
    }


def cli_scores(path: Path) -> dict:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    skip = {"file", "labels", "transcript", "error"}
    return {Path(r["file"]).name: {k: float(v) for k, v in r.items() if k not in skip and v} for r in rows
            if not r.get("error")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "batch.json"))
    ap.add_argument("--only", nargs="*", help="run only these (load, cli, batch_local, ray_1, ray_2, long)")
    args = ap.parse_args()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0"}
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    clips = make_clips(work / "clips", args.clips)
    (work / "long").mkdir()
    py = sys.executable
    batch = [py, "-m", "tailor_core.batch", str(work / "clips"), "--quiet"]
    configs = {
        "cli": ([py, "-m", "tailor_core.cli", str(work / "clips"), "--csv", str(work / "cli.csv")], cores, 1),
        "batch_local": (batch + ["--out", str(work / "batch_local"), "--engine", "local"], cores, 1),
        "ray_1": (batch + ["--out", str(work / "ray_1"), "--engine", "ray", "--cpus", "2", "--workers", "1"], 1, 1),
        "ray_2": (batch + ["--out", str(work / "ray_2"), "--engine", "ray", "--cpus", "2", "--workers", "2"], 2, 2),
    }
    if not args.only or "long" in args.only:  # one minute-long recording, in-process
        loop_clip(ROOT / "assets" / "ravdess_happy.mp4", work / "long" / "happy_x18.mp4", 18)
        configs["long"] = ([py, "-m", "tailor_core.batch", str(work / "long"), "--quiet", "--engine", "local",
                            "--out", str(work / "long_out")], cores, 1)
    results: dict = {}
    reference: dict = {}
    if not args.only or "load" in args.only:  # what each worker pays once: loading the model and extractors
        print("load: the model and extractors in a fresh process", file=sys.stderr, flush=True)
        results["load"] = timed([py, "-c", "from tailor_core import load_model; load_model(device='cpu')"], env)
        results["load"]["cores"] = cores
    for name, (cmd, used_cores, workers) in configs.items():
        if args.only and name not in args.only:
            continue
        print(f"{name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        r = timed(cmd, env)
        if name == "cli":
            reference = cli_scores(work / "cli.csv")
        else:
            stats = batch_stats(work / ("long_out" if name == "long" else name), r["wall_s"], workers)
            scores = stats.pop("scores")
            if reference:
                diffs = [abs(v - reference[f][k]) for f, s in scores.items() if f in reference for k, v in s.items()]
                stats["max_abs_diff_vs_cli"] = max(diffs) if diffs else None
            r.update(stats)
        r["cores"] = used_cores
        results[name] = r
        print(f"  {r['wall_s']:.1f} s (rc {r['rc']})", file=sys.stderr, flush=True)

    clip_minutes = next((r["clip_minutes"] for r in results.values() if "clip_minutes" in r), None)
    for name, r in results.items():
        if name in ("load", "long"):
            continue
        r["files_per_min"] = round(len(clips) / r["wall_s"] * 60, 2)
        if clip_minutes:
            r["clip_min_per_wall_min"] = round(clip_minutes / (r["wall_s"] / 60), 3)
            r["core_s_per_clip_min"] = round(r["wall_s"] * r["cores"] / clip_minutes, 1)
    report = {
        "note": "One run on this machine (shared with other work: see the load averages). Wall times include each "
                "process's model loading and, for Ray, starting Ray and its actors. core_s_per_clip_min = wall x "
                "cores the run may use / clip-minutes. Clips: copies of assets/ and tests/fixtures/ media.",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cores": cores, "platform": platform.platform(), "processor": _cpu_name(),
                    "python": platform.python_version()},
        "clips": len(clips), "clip_minutes": clip_minutes,
        "sources": [str(s.relative_to(ROOT)) for s in SOURCES],
        "runs": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print("| run | wall s | files/min | clip-min per wall-min | core-s per clip-min |\n|---|---|---|---|---|")
    for name, r in results.items():
        if name == "load":
            print(f"model load: {r['wall_s']} s wall, {r['process_cpu_s']} CPU-s")
            continue
        if name == "long":
            print(f"one {r['clip_minutes']:.2f}-minute clip in-process: {r['cpu_s_per_clip_s']} CPU-s per clip-second")
            continue
        print(f"| {name} | {r['wall_s']} | {r['files_per_min']} | {r.get('clip_min_per_wall_min')} | "
              f"{r.get('core_s_per_clip_min')} |")
    shutil.rmtree(work, ignore_errors=True)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
