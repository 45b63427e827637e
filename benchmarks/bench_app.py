"""End-to-end cost of the app: a 10 s upload, one live update, and the server's memory.

    python benchmarks/bench_app.py [--checkpoint DIR] [--repeats 3]

* **Upload**: ``python app.py`` is started as a separate process on a free port; a 10 s clip with a face and
  speech (three RAVDESS example clips back to back, made here with PyAV) is sent through ``gradio_client`` to
  ``/predict_clip``: upload, decoding, face, voice, speech-to-text, text, model, JSON back. Median of
  ``--repeats`` after one warm-up.
* **Live update**: what one streaming tick costs in the server — adding 0.5 s of webcam frames (640×480, the
  size the app asks the browser for, 5 frames) and a 0.5 s 48 kHz microphone chunk to a ``LiveSession``, then
  scoring the rolling 6 s window. Measured in-process on a session that already holds 6 s of the same clip,
  median over 10 ticks (network and browser rendering excluded). Scored as the app's background updates score:
  the update waits for its voice encoder pass at most ``voice_wait_seconds`` (a slower pass is taken up by the
  next update).
* **Live in real time**: the app's live path as the browser drives it — a frame offered every 0.25 s (the face
  thread analyses only the newest) and a 0.5 s chunk every 0.5 s, the session scoring in its own thread, updates
  taken as the handlers take them; the gaps between updates (median / p95 / max), each update's cost, and the
  first update after the first input, over ``--live-seconds`` (speech to text on).
* **Memory**: the server process's resident set (VmRSS) after start-up, and after the uploads.

Prints a markdown table. Targets (2 CPU cores): ≤ 5 s per 10 s clip, ≤ 1.5 s per live update, live update gaps
p95 ≤ 1.5 s and none over 3 s (issue 31), ≤ 2 GB RSS. ``--live-only`` skips the server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLIPS = [ROOT / "assets" / n for n in ("ravdess_happy.mp4", "ravdess_sad.mp4", "ravdess_happy.mp4")]


def make_10s_clip(out: Path) -> Path:
    """Concatenate the example clips (video 640x360 @ 25 fps, mono AAC 48 kHz) with PyAV."""
    import av

    fps, sr = 25, 48000
    images: list[np.ndarray] = []
    sound: list[np.ndarray] = []
    for clip in CLIPS:
        with av.open(str(clip)) as src:
            n0 = len(images)
            for frame in src.decode(src.streams.video[0]):
                rgb = frame.to_ndarray(format="rgb24")
                while len(images) - n0 <= float(frame.time) * fps:  # resample to 25 fps
                    images.append(rgb)
        with av.open(str(clip)) as src:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            sound += [r.to_ndarray().reshape(-1) for f in src.decode(src.streams.audio[0])
                      for r in resampler.resample(f)]
    pcm = np.concatenate(sound)
    from tests.media_utils import write_clip

    write_clip(out, images, fps, audio=pcm, sample_rate=sr, size=(640, 360))
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_server(clip: Path, checkpoint: str | None, repeats: int) -> dict[str, float]:
    from gradio_client import Client, handle_file

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    if checkpoint:
        env["TAILOR_CHECKPOINT"] = checkpoint
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        client = None
        while time.perf_counter() - t0 < 180:
            try:
                client = Client(url, verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        if client is None:
            raise RuntimeError("app did not start")
        startup = time.perf_counter() - t0
        rss_start = rss_mb(proc.pid)
        client.predict(handle_file(str(clip)), api_name="/predict_clip")  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            result = client.predict(handle_file(str(clip)), api_name="/predict_clip")
            times.append(time.perf_counter() - t)
        return {"startup": startup, "rss_start": rss_start, "rss_after": rss_mb(proc.pid),
                "upload": statistics.median(times), "upload_min": min(times), "duration": result["duration"],
                "server_total": result["timings"].get("total", float("nan"))}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def clip_media(clip: Path) -> tuple[list[tuple[float, np.ndarray]], np.ndarray]:
    """(time, 640×480 RGB frame) pairs (the clip letterboxed, as a webcam gives it) and 48 kHz int16 PCM."""
    import av

    frames = []
    with av.open(str(clip)) as c:
        for f in c.decode(c.streams.video[0]):
            rgb = f.to_ndarray(format="rgb24")
            canvas = np.zeros((480, 640, 3), np.uint8)
            canvas[60:420] = rgb
            frames.append((float(f.time), canvas))
        c.seek(0)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])
                              for r in resampler.resample(f)])
    return frames, pcm


def bench_live(predictor, clip: Path, ticks: int = 10) -> dict[str, float]:
    from tailor_core.live import LiveSession
    from tailor_core.options import LiveOptions

    voice_wait = LiveOptions().voice_wait_seconds

    frames, pcm = clip_media(clip)
    live = LiveSession(predictor, window_seconds=6.0)

    def feed(t0: float, t1: float) -> None:
        for t, rgb in frames:
            if t0 <= t < t1 and int(t * 10) % 2 == 0:  # ~5 frames per second
                live.add_frame(rgb, t=t)
        live.add_audio(pcm[int(t0 * 48000): int(t1 * 48000)], 48000, t=t0)

    t = 0.0
    while t < 6.0:  # fill the rolling window first
        feed(t, t + 0.5)
        t += 0.5
    live.predict(voice_wait=voice_wait)
    costs, adds = [], []
    for _ in range(ticks):
        a = time.perf_counter()
        feed(t, t + 0.5)
        b = time.perf_counter()
        live.predict(voice_wait=voice_wait)
        costs.append(time.perf_counter() - a)
        adds.append(b - a)
        t += 0.5
        time.sleep(0.5)  # let background speech-to-text run as it would live
    live.close()
    return {"live": statistics.median(costs), "live_max": max(costs), "live_add": statistics.median(adds)}


def bench_live_realtime(predictor, clip: Path, seconds: float = 20.0, every: float = 0.75) -> dict[str, float]:
    """The app's live path in real time (see the module docstring); the clip loops."""
    from tailor_core.live import LiveSession

    frames, pcm = clip_media(clip)
    duration = len(pcm) / 48000
    live = LiveSession(predictor, window_seconds=6.0)
    live.start_updates(every)
    t0 = time.monotonic()
    taken: list[float] = []
    tick = 0
    while time.monotonic() - t0 < seconds:
        t = (time.monotonic() - t0) % duration
        live.offer_frame(min(frames, key=lambda f: abs(f[0] - t))[1])
        if tick % 2 == 1:  # the 0.5 s that just ended
            a = int(((time.monotonic() - t0 - 0.5) % duration) * 48000)
            live.add_audio(pcm[a: a + 24000], 48000)
        if live.take_update() is not None:
            taken.append(time.monotonic() - t0)
        tick += 1
        time.sleep(max(0.0, tick * 0.25 - (time.monotonic() - t0)))
    cost = sorted(c for _, c in live.update_log)
    live.close()
    gaps = sorted(b - a for a, b in zip(taken, taken[1:]))

    def pct(xs: list[float], q: float) -> float:
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    return {"gap_p50": pct(gaps, 0.5), "gap_p95": pct(gaps, 0.95), "gap_max": pct(gaps, 1.0),
            "cost_p50": pct(cost, 0.5), "cost_p95": pct(cost, 0.95), "cost_max": pct(cost, 1.0),
            "first": taken[0] if taken else float("nan"), "updates": len(taken), "seconds": seconds,
            "dropped": live.dropped_frames, "frames": live.frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="checkpoint dir (default: checkpoints/tailor-demo)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--live-seconds", type=float, default=20.0, help="length of the real-time live run")
    ap.add_argument("--live-only", action="store_true", help="skip the server (upload, start-up, memory)")
    args = ap.parse_args()
    from tailor_core.predictor import load_model

    with tempfile.TemporaryDirectory() as tmp:
        clip = make_10s_clip(Path(tmp) / "clip10s.mp4")
        server = None if args.live_only else bench_server(clip, args.checkpoint, args.repeats)
        predictor = load_model(args.checkpoint)
        live = bench_live(predictor, clip)
        real = bench_live_realtime(predictor, clip, args.live_seconds)
    cores = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n### App benchmark ({cores} CPU cores, load average at the end {load})\n")
    print("| measure | result | target |")
    print("|---|---|---|")
    if server:
        print(f"| server start-up (model + extractors loaded, serving) | {server['startup']:.1f} s | — |")
        print(f"| {server['duration']:.1f} s clip upload → JSON via gradio_client (median of {args.repeats}) | "
              f"{server['upload']:.2f} s (real-time factor {server['upload'] / server['duration']:.2f}; "
              f"in Predictor {server['server_total']:.2f} s) | ≤ 5 s |")
    print(f"| one live update (0.5 s of 640×480 frames + audio, then score 6 s window; median / max) | "
          f"{live['live']:.2f} s / {live['live_max']:.2f} s | ≤ 1.5 s |")
    print(f"| live in real time, {real['seconds']:.0f} s: gap between updates, median / p95 / max | "
          f"{real['gap_p50']:.2f} / {real['gap_p95']:.2f} / {real['gap_max']:.2f} s ({real['updates']} updates) | "
          "p95 ≤ 1.5 s, max ≤ 3 s |")
    print(f"| live in real time: one update's cost, median / p95 / max | {real['cost_p50']:.2f} / "
          f"{real['cost_p95']:.2f} / {real['cost_max']:.2f} s | — |")
    print(f"| live in real time: first update after the first input; frames analysed / dropped | "
          f"{real['first']:.2f} s; {real['frames']} / {real['dropped']} | — |")
    if server:
        print(f"| server RSS after loading | {server['rss_start']:.0f} MB | ≤ 2048 MB |")
        print(f"| server RSS after the uploads | {server['rss_after']:.0f} MB | ≤ 2048 MB |")


if __name__ == "__main__":
    main()
