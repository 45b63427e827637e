"""The live view, in-process, on the example clips played in a loop, for several live voice windows.

    python benchmarks/bench_live_examples.py [--windows 10,20] [--loops 4] [CLIP ...]

Like the browser test's fake camera and microphone, but without a browser: each clip (default: the three RAVDESS
examples in ``assets/``) is fed to a :class:`~tailor_core.live.LiveSession` in 0.5 s audio chunks (48 kHz) with its
frames (every 3rd), ``--loops`` times over, and scored every second of media, as the app does, with
``LiveOptions.voice_pad_seconds`` set to each window in turn. Prints, after the first 3 s, each label's highest shown
(smoothed) score, the last one, and how often the set of labels over threshold changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLES = ["ravdess_happy.mp4", "ravdess_sad.mp4", "ravdess_fearful.wav"]
CHUNK_SECONDS = 0.5
SETTLE_SECONDS = 3.0


def media(path: Path) -> tuple[list[tuple[float, np.ndarray]], np.ndarray]:
    """(every 3rd video frame with its time, RGB), mono int16 audio at 48 kHz."""
    import av

    frames, audio = [], []
    with av.open(str(path)) as c:
        if c.streams.video:
            frames = [(f.time, f.to_ndarray(format="rgb24")) for i, f in enumerate(c.decode(c.streams.video[0]))
                      if i % 3 == 0]
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for f in c.decode(c.streams.audio[0]):
            audio += [r.to_ndarray().reshape(-1) for r in resampler.resample(f)]
    return frames, np.concatenate(audio)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clips", nargs="*", type=Path)
    p.add_argument("--windows", default="10,20", help="live voice windows (s) to compare")
    p.add_argument("--loops", type=int, default=4)
    args = p.parse_args(argv)
    from dataclasses import replace

    from tailor_core.live import LiveSession
    from tailor_core.options import LiveOptions
    from tailor_core.predictor import load_model

    predictor = load_model()
    chunk = int(CHUNK_SECONDS * 48000)
    print("| clip | window | highest shown score after 3 s | last | label changes |\n|---|---|---|---|---|")
    for clip in args.clips or [ROOT / "assets" / name for name in EXAMPLES]:
        frames, audio = media(clip)
        duration = len(audio) / 48000
        for window in (float(w) for w in args.windows.split(",")):
            live = LiveSession(predictor, window_seconds=6.0,
                               options=replace(LiveOptions(), voice_pad_seconds=window))
            shown = []
            for loop in range(args.loops):
                for k in range(0, len(audio), chunk):
                    t = loop * duration + k / 48000
                    for ft, rgb in frames:
                        if t <= loop * duration + ft < t + CHUNK_SECONDS:
                            live.add_frame(rgb, t=loop * duration + ft)
                    live.add_audio(audio[k: k + chunk], 48000, t=t)
                    if int(t / CHUNK_SECONDS) % 2 == 1:  # one update per second of media
                        pred = live.predict(block=True)
                        if pred is not None and t > SETTLE_SECONDS:
                            shown.append((dict(pred.shown_scores), set(pred.labels)))
            live.close()
            top = {k: max(s[k] for s, _ in shown) for k in shown[0][0]}
            changes = sum(a[1] != b[1] for a, b in zip(shown, shown[1:]))
            fmt = lambda d: ", ".join(f"{k} {v:.2f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:3])  # noqa: E731
            print(f"| {clip.name} | {window:.0f} s | {fmt(top)} | {fmt(shown[-1][0])} | {changes} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
