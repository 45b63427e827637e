"""Writing small test clips with PyAV (tests and benchmarks only: the product never encodes media)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_clip(path: str | Path, frames: list[np.ndarray], fps: int, audio: np.ndarray | None = None,
               sample_rate: int = 48_000, size: tuple[int, int] | None = None) -> Path:
    """Encode RGB frames [H,W,3] uint8 (+ optional mono float audio [n]) as H.264 + AAC with PyAV.

    For building test clips and benchmarks; ``size`` = (width, height) rescales the frames.
    """
    from fractions import Fraction

    import av

    width, height = size or (frames[0].shape[1], frames[0].shape[0])
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = Fraction(1, fps)
        sound = out.add_stream("aac", rate=sample_rate, layout="mono") if audio is not None else None
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(width=width, height=height)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            pcm = np.asarray(audio, np.float32).reshape(-1)
            for i in range(0, len(pcm), 1024):
                chunk = av.AudioFrame.from_ndarray(pcm[None, i: i + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = sample_rate, i, Fraction(1, sample_rate)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return Path(path)
