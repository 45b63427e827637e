"""Bounded load and soak on loopback: clip clients against a real server, live sessions through the handlers.

    python benchmarks/bench_load.py [--clients 8] [--seconds 60] [--rounds 2] [--live 8]

* **Clip clients**: ``python app.py`` runs as a separate process (127.0.0.1, its own upload folder);
  ``--clients`` threads each send the 3 s example clip (a private copy: one byte changed, so it is not an
  example) to ``/predict_clip`` in a loop for ``--seconds``; ``--rounds`` rounds after one warm-up request.
  Reported per round: requests, errors, p50/p95 latency, the server's resident memory (VmRSS) at the end of
  the round and its peak (sampled every 0.25 s), and files left in the upload folder.
* **Live sessions**: ``--live`` browser sessions simulated in this process through ``app.on_frame`` /
  ``app.on_audio`` (what Gradio calls), each sending a 640×480 frame and a 0.5 s 48 kHz chunk every 0.5 s
  for ``--seconds``, then Reset. Reported per round: score updates per session per second, this process's RSS.

Prints markdown tables. Targets: RSS within ±10 % across rounds after warm-up; peak ≤ 2 GB; 0 errors.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.bench_app import free_port, rss_mb  # noqa: E402

CLIP = ROOT / "assets" / "ravdess_happy.mp4"


def _private_copy(folder: Path, i: int) -> Path:
    """Visitor ``i``'s own file: the example clip with its last byte changed (Gradio stores uploads by content,
    so identical bytes from several visitors would be one file)."""
    data = bytearray(CLIP.read_bytes())
    data[-1] = (data[-1] + 1 + i) % 256
    out = folder / f"visitor{i}.mp4"
    out.write_bytes(bytes(data))
    return out


def _visitor_files(uploads: Path) -> int:
    """Files in the upload folder that are not copies of the shipped examples (those are kept on purpose)."""
    import hashlib

    examples = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "assets").iterdir()
                if p.suffix in (".mp4", ".wav", ".jpg")}
    files = [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []
    return sum(hashlib.sha256(p.read_bytes()).hexdigest() not in examples for p in files)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _clip_round(url: str, clips: list[Path], pid: int, uploads: Path, clients: int, seconds: float
                ) -> dict[str, float]:
    from gradio_client import Client, handle_file

    latencies: list[float] = []
    errors = [0]
    peak = [0.0]
    stop = time.time() + seconds

    def client_loop(clip: Path) -> None:
        c = Client(url, verbose=False)
        while time.time() < stop:
            t = time.perf_counter()
            try:
                c.predict(handle_file(str(clip)), api_name="/predict_clip")
                latencies.append(time.perf_counter() - t)
            except Exception:  # noqa: BLE001 - counted
                errors[0] += 1

    def sample() -> None:
        while time.time() < stop + 5:
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.25)

    threads = [threading.Thread(target=client_loop, args=(clips[i],)) for i in range(clients)]
    threads.append(threading.Thread(target=sample))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    left = _visitor_files(uploads)
    return {"requests": len(latencies), "errors": errors[0], "p50": _percentile(latencies, 50),
            "p95": _percentile(latencies, 95), "rss": rss_mb(pid), "peak": peak[0], "files_left": left}


def clip_rounds(clients: int, seconds: float, rounds: int) -> list[dict[str, float]]:
    from gradio_client import Client, handle_file

    work = Path(tempfile.mkdtemp(prefix="tailor-load-"))
    uploads = work / "tailor-uploads-load"
    clips = [_private_copy(work, i) for i in range(clients)]
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(uploads)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    out = []
    try:
        t0 = time.time()
        while True:
            try:
                Client(url, verbose=False).predict(handle_file(str(clips[0])), api_name="/predict_clip")  # warm-up
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.time() - t0 > 240:
                    raise
                time.sleep(1)
        for r in range(rounds):
            out.append({"round": r + 1, **_clip_round(url, clips, proc.pid, uploads, clients, seconds)})
    finally:
        proc.terminate()
        proc.wait(30)
        out.append({"after_shutdown_files": sum(1 for p in uploads.rglob("*") if p.is_file())
                    if uploads.exists() else 0})
        shutil.rmtree(work, ignore_errors=True)
    return out


def _live_round(app, frames: list, chunks: list, sessions: int, seconds: float) -> list[int]:
    """Score updates each simulated session received in one round."""
    updates = [0] * sessions

    def run(i: int) -> None:
        request = type("R", (), {"session_hash": f"load-{i}"})()
        stop = time.time() + seconds
        k = 0
        while time.time() < stop:
            t = time.perf_counter()
            for res in (app.on_frame(frames[(k * 15) % len(frames)], request),
                        app.on_audio((48000, chunks[k % len(chunks)]), request)):
                updates[i] += "labels:" in str(res[2])  # a fresh status line = a new score update
            k += 1
            time.sleep(max(0.0, 0.5 - (time.perf_counter() - t)))
        app.on_reset(request)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(sessions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return updates


def live_rounds(sessions: int, seconds: float, rounds: int) -> list[dict[str, float]]:
    import av

    import app

    frames, chunks = [], []
    with av.open(str(CLIP)) as c:
        for frame in c.decode(c.streams.video[0]):
            frames.append(frame.to_ndarray(format="rgb24", width=640, height=480))
    with av.open(str(CLIP)) as c:
        rs = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])
                              for r in rs.resample(f)])
    chunks = [pcm[i: i + 24000] for i in range(0, len(pcm) - 24000, 24000)]
    app.get_predictor()
    out = []
    for r in range(rounds):
        updates = _live_round(app, frames, chunks, sessions, seconds)
        out.append({"round": r + 1, "updates_per_s": statistics.mean(updates) / seconds,
                    "min_updates_per_s": min(updates) / seconds, "rss": rss_mb(os.getpid()),
                    "open_sessions": len(app._SESSIONS)})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--live", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--skip-clips", action="store_true")
    p.add_argument("--skip-live", action="store_true")
    args = p.parse_args()
    print(f"Machine: {os.cpu_count()} CPU cores; {args.clients} clip clients, {args.live} live sessions, "
          f"{args.seconds:.0f} s per round, {args.rounds} rounds\n")
    if not args.skip_clips:
        rows = clip_rounds(args.clients, args.seconds, args.rounds)
        print("| round | requests | errors | p50 s | p95 s | server RSS MB | peak MB | visitor files left |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows[:-1]:
            print(f"| {row['round']} | {row['requests']} | {row['errors']} | {row['p50']:.1f} | {row['p95']:.1f} | "
                  f"{row['rss']:.0f} | {row['peak']:.0f} | {row['files_left']} |")
        print(f"\nupload files left after SIGTERM: {rows[-1]['after_shutdown_files']}\n")
    if not args.skip_live:
        rows = live_rounds(args.live, args.seconds, args.rounds)
        print("| round | score updates / session / s (mean, min) | process RSS MB | sessions open after reset |")
        print("|---|---:|---:|---:|")
        for row in rows:
            print(f"| {row['round']} | {row['updates_per_s']:.2f}, {row['min_updates_per_s']:.2f} | {row['rss']:.0f} | "
                  f"{row['open_sessions']} |")


if __name__ == "__main__":
    main()
