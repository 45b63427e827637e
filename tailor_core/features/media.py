"""Media I/O with PyAV (its wheels carry FFmpeg: no system ffmpeg needed here, on laptops or on Spaces).

Two light passes over a file: :func:`decode_audio` decodes the audio track to 16 kHz mono float32, and
:func:`iter_video_frames` yields RGB frames sampled at a fixed rate and downscaled, so a 60 fps 4K upload
costs
no more than a 10 fps 960-px one and no frame list is ever held in memory. Only the first ``max_seconds`` are
decoded (``truncated`` says when the file was longer). Unreadable input raises a typed :class:`FeatureError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import resample_to_16k
from .errors import EmptyInputError, FeatureError, MediaDecodeError
from .grid import SAMPLE_RATE
from .visual import MAX_FRAME_SIDE, FrameSampler

VIDEO_FPS: float = 10.0  # face frames analysed per second
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v", ".mpg", ".mpeg", ".3gp")
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav",
    ".flac",
    ".mp3",
    ".ogg",
    ".m4a",
    ".aac",
    ".opus",
    ".wma",
    ".aiff",
)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
MAX_DECODE_ERRORS: int = 50  # corrupt packets tolerated before giving up on a stream

log = logging.getLogger(__name__)


@dataclass
class MediaInfo:
    """What a file holds: stream presence, duration (s, from the container; may be 0 if unknown)."""

    path: str
    has_audio: bool
    has_video: bool
    duration: float


def _name(path: str | Path) -> str:
    return Path(str(path)).name


def _open(path: str | Path):
    import av

    p = Path(str(path))
    if not p.exists():
        raise MediaDecodeError(f"file not found: {p.name}")
    if p.is_dir():
        raise MediaDecodeError(f"{p.name} is a folder, not a media file")
    if p.stat().st_size == 0:
        raise EmptyInputError(f"{p.name} is empty (0 bytes)")
    try:
        return av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise MediaDecodeError(
            f"cannot read {p.name}: not a supported audio/video file, or it is corrupt "
            f"or truncated ({e.strerror or type(e).__name__})"
        ) from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise MediaDecodeError(f"cannot read {p.name}: {e}") from None


def _start_seconds(stream) -> float | None:
    if stream is None or stream.start_time is None or stream.time_base is None:
        return None
    return float(stream.start_time * stream.time_base)


def _origin(container) -> float:
    starts = [
        s
        for s in (_start_seconds(st) for st in (*container.streams.audio[:1], *container.streams.video[:1]))
        if s is not None
    ]
    return min(starts) if starts else 0.0


def _decoded(container, stream) -> Iterator:
    """Frames of one stream, skipping corrupt packets (up to ``MAX_DECODE_ERRORS``, then the rest is dropped)."""
    import av

    errors = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            errors += 1
            if errors > MAX_DECODE_ERRORS:
                return
            continue
        yield from frames


def probe(path: str | Path) -> MediaInfo:
    """Stream presence and container duration; raises :class:`FeatureError` for unreadable files."""
    with _open(path) as c:
        dur = float(c.duration) / 1_000_000 if c.duration else 0.0
        has_v = any(s.type == "video" and s.codec_context is not None for s in c.streams.video)
        return MediaInfo(str(path), bool(c.streams.audio), has_v, dur)


def decode_audio(
    path: str | Path, max_seconds: float, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray | None, bool]:
    """Audio track as mono float32 [n] at ``sample_rate`` (``None`` if there is no audio), and whether it was
    cut.

    Samples are placed on the container's clock: a track starting late is padded with leading silence.
    """
    import av

    with _open(path) as c:
        if not c.streams.audio:
            return None, False
        st = c.streams.audio[0]
        origin = _origin(c)
        rate = st.codec_context.sample_rate or st.rate or 48_000
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        n = 0
        first_time: float | None = None
        limit = int(max_seconds * rate)
        truncated = False
        try:
            for frame in _decoded(c, st):
                if first_time is None and frame.time is not None:
                    first_time = float(frame.time) - origin
                for out in resampler.resample(frame):
                    a = out.to_ndarray().reshape(-1)
                    chunks.append(a)
                    n += len(a)
                if n >= limit + rate:
                    truncated = True
                    break
            if not truncated:
                for out in resampler.resample(None):
                    a = out.to_ndarray().reshape(-1)
                    chunks.append(a)
                    n += len(a)
        except av.error.FFmpegError as e:  # damaged tail: keep what was decoded
            log.warning("audio of %s decoded partially: %s", _name(path), e)
    if n == 0:
        return None, False
    y = np.concatenate(chunks).astype(np.float32)
    lead = round((first_time or 0.0) * rate)
    if lead > 0:
        y = np.concatenate([np.zeros(min(lead, limit), np.float32), y])
    elif lead < 0:
        y = y[-lead:]
    if len(y) > limit:
        y, truncated = y[:limit], True
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if sample_rate == SAMPLE_RATE:
        return resample_to_16k(y, rate), truncated
    import soxr

    return (y if rate == sample_rate else soxr.resample(y, rate, sample_rate, quality="HQ")), truncated


def iter_video_frames(
    path: str | Path,
    max_seconds: float,
    fps: float = VIDEO_FPS,
    max_side: int = MAX_FRAME_SIDE,
    stats: dict | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(t, rgb)`` for frames sampled at most every ``1/fps`` s in the first ``max_seconds``.

    ``rgb`` is HxWx3 uint8, rotated upright, longer side <= ``max_side``. ``stats`` (if given) receives
    ``duration`` (end of the last decoded frame, s), ``truncated`` and ``frames`` (decoded frame count).
    """
    import av

    stats = stats if stats is not None else {}
    stats.update(duration=0.0, truncated=False, frames=0, has_video=False)
    with _open(path) as c:
        vids = [s for s in c.streams.video if s.codec_context is not None]
        if not vids:
            return
        st = vids[0]
        st.thread_type = "AUTO"
        st.codec_context.thread_count = min(4, os.cpu_count() or 1)
        origin = _origin(c)
        rate = float(st.average_rate) if st.average_rate else 25.0
        frame_dur = 1.0 / rate if rate > 0 else 0.04
        stats["has_video"] = True
        sampler = FrameSampler(fps)
        index = 0
        last_t = 0.0
        try:
            for frame in _decoded(c, st):
                t = (float(frame.time) - origin) if frame.time is not None else index * frame_dur
                if index and t <= last_t:  # missing or broken timestamps: assume a constant frame rate
                    t = last_t + frame_dur
                last_t = t
                index += 1
                if t >= max_seconds:
                    stats["truncated"] = True
                    return
                stats["frames"] += 1
                stats["duration"] = max(stats["duration"], t + frame_dur)
                if not sampler.take(t):
                    continue
                w, h = frame.width, frame.height
                s = min(1.0, max_side / max(w, h))
                rgb = frame.to_ndarray(
                    format="rgb24", width=max(2, round(w * s)), height=max(2, round(h * s))
                )
                rot = getattr(frame, "rotation", 0) or 0
                if rot and rot % 90 == 0:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=int(rot // 90)))
                yield t, rgb
        except av.error.FFmpegError as e:
            log.warning("video of %s decoded partially: %s", _name(path), e)


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


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (EXIF orientation applied)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(str(path))
    if not p.exists():
        raise MediaDecodeError(f"file not found: {p.name}")
    if p.stat().st_size == 0:
        raise EmptyInputError(f"{p.name} is empty (0 bytes)")
    try:
        with Image.open(p) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise MediaDecodeError(f"cannot read {p.name} as an image: {e}") from None


def is_image_path(path: str | Path) -> bool:
    return Path(str(path)).suffix.lower() in IMAGE_EXTENSIONS


__all__ = [
    "SAMPLE_RATE",
    "VIDEO_FPS",
    "FeatureError",
    "MediaInfo",
    "decode_audio",
    "is_image_path",
    "iter_video_frames",
    "probe",
    "read_image",
]
