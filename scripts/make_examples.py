"""Re-encode the example clips in ``assets/`` from ``../shared/data/clips`` (run once; output is committed).

    python scripts/make_examples.py ../shared/data/clips

RAVDESS clips (1280x720, ~4 MB) become 640x360 H.264 + AAC (~0.3 MB); the silent Pexels clip is cut to 6 s.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av

CLIPS = {
    "01-01-03-01-01-02-05.mp4": ("ravdess_happy.mp4", None),
    "01-01-04-01-01-01-05.mp4": ("ravdess_sad.mp4", None),
    "WolfgangLanger_Pexels.mp4": ("pexels_silent.mp4", 6.0),
}


def reencode(src: Path, dst: Path, max_seconds: float | None, width: int = 640) -> None:
    """Copy ``src`` to ``dst``: ``width`` px wide (even height), source frame rate, AAC mono audio, first
    ``max_seconds`` seconds."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        h = int(round(vin.height * width / vin.width / 2) * 2)
        rate = vin.average_rate or Fraction(25)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, h, "yuv420p"
        vout.options = {"crf": "28", "preset": "medium"}
        aout = out.add_stream("aac", rate=ain.rate) if ain else None
        if aout is not None:
            aout.layout = "mono"
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=ain.rate) if ain else None
        for n, frame in enumerate(inp.decode(vin)):
            if max_seconds is not None and frame.time is not None and frame.time >= max_seconds:
                break
            f = frame.reformat(width=width, height=h, format="yuv420p")
            f.pts, f.time_base = n, 1 / Fraction(rate)
            for p in vout.encode(f):
                out.mux(p)
        for p in vout.encode():
            out.mux(p)
        if ain is not None:
            inp.seek(0)
            for frame in inp.decode(ain):
                if max_seconds is not None and frame.time is not None and frame.time >= max_seconds:
                    break
                frame.pts = None
                for rf in resampler.resample(frame):
                    for p in aout.encode(rf):
                        out.mux(p)
            for p in aout.encode():
                out.mux(p)


if __name__ == "__main__":
    src_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/clips")
    here = Path(__file__).resolve().parent
    for name, (out_name, secs) in CLIPS.items():
        reencode(src_dir / name, here / out_name, secs)
        print(out_name, (here / out_name).stat().st_size // 1024, "KiB")
