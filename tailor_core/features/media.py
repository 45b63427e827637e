"""Media I/O with PyAV (its wheels carry FFmpeg: no system ffmpeg needed here, on laptops or on Spaces).

Two light passes over a file: :func:`decode_audio` decodes the audio track to 16 kHz mono float32, and
:func:`iter_video_frames` yields RGB frames sampled at a fixed rate and downscaled, so a 60 fps 4K upload costs
no more than a 10 fps 960-px one and no frame list is ever held in memory. Decoding stops at ``max_seconds``
of decoded media, whatever the container header claims (``truncated`` says when the file held more).
Unreadable input raises a typed :class:`FeatureError`. The file types the project reads are listed here once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .audio import resample_to_16k
from .errors import EmptyInputError, FeatureError, MediaDecodeError, TooLongError, display_name
from .grid import SAMPLE_RATE
from .visual import MAX_FRAME_SIDE, VIDEO_FPS, FrameSampler

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
MEDIA_EXTENSIONS: tuple[str, ...] = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS + IMAGE_EXTENSIONS
MAX_DECODE_ERRORS: int = 50  # corrupt packets tolerated before giving up on a stream

log = logging.getLogger(__name__)


def _name(path: str | Path) -> str:
    return display_name(path)


def _open(path: str | Path):
    import av

    p = Path(str(path))
    if not p.exists():
        raise MediaDecodeError(f"file not found: {display_name(p)}")
    if p.is_dir():
        raise MediaDecodeError(f"{display_name(p)} is a folder, not a media file")
    if p.stat().st_size == 0:
        raise EmptyInputError(f"{display_name(p)} is empty (0 bytes)")
    try:
        return av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise MediaDecodeError(
            f"cannot read {display_name(p)}: not a supported audio/video file, or it is corrupt "
            f"or truncated ({e.strerror or type(e).__name__})"
        ) from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise MediaDecodeError(f"cannot read {display_name(p)}: {e}") from None


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


def decode_audio(
    path: str | Path, max_seconds: float, sample_rate: int = SAMPLE_RATE, stats: dict | None = None
) -> tuple[np.ndarray | None, bool]:
    """Audio track as mono float32 [n] at ``sample_rate`` (``None`` if there is no audio), and whether it was
    cut.

    Samples are placed on the container's clock: a track starting late is padded with leading silence.
    ``stats`` (if given) receives ``header_duration``: what the container claims (s, 0 if it says nothing).
    """
    import av

    with _open(path) as c:
        if stats is not None:
            stats["header_duration"] = float(c.duration) / 1_000_000 if c.duration else 0.0
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


def read_image(path: str | Path, max_pixels: int | None = None, max_side: int = MAX_FRAME_SIDE) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, EXIF orientation applied, longer side at most ``max_side``.

    The pixel count is checked from the header before any pixel is decoded (``max_pixels``), and JPEGs are
    decoded at a reduced scale when they are large (``draft``), so a huge photo never fills the memory.
    16-bit and float images are scaled to 8 bits (not clipped), palette and alpha images flattened.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(str(path))
    if not p.exists():
        raise MediaDecodeError(f"file not found: {display_name(p)}")
    if p.stat().st_size == 0:
        raise EmptyInputError(f"{display_name(p)} is empty (0 bytes)")
    try:
        with Image.open(p) as im:
            w, h = im.size
            if max_pixels is not None and w * h > max_pixels:
                raise TooLongError(f"{display_name(p)} is {w}×{h} pixels; images up to "
                                   f"{max_pixels / 1e6:.0f} megapixels are analysed. Please resize it.")
            if im.format == "JPEG" and max(w, h) > 2 * max_side:
                im.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
    except Image.DecompressionBombError:  # Pillow's own guard fired first (far beyond any cap)
        limit = f"{max_pixels / 1e6:.0f}" if max_pixels else "a few hundred"
        raise TooLongError(f"{display_name(p)} declares far too many pixels; images up to {limit} megapixels are "
                           "analysed. Please resize it.") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        if isinstance(e, FeatureError):
            raise
        raise MediaDecodeError(f"cannot read {display_name(p)} as an image ({type(e).__name__})") from None
    return rgb if max(rgb.shape[:2]) <= max_side else _shrink(rgb, max_side)


def _to_rgb(im) -> np.ndarray:
    """PIL image of any mode -> HxWx3 uint8; wide integer and float modes are rescaled to their range."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = (0.0, 65535.0) if im.mode.startswith("I;16") else (float(a.min()), float(a.max()))
        if im.mode == "I" and a.max() <= 65535 and a.min() >= 0:
            lo, hi = 0.0, 65535.0 if a.max() > 255 else 255.0
        a = np.clip((a - lo) / max(hi - lo, 1e-9), 0, 1) * 255.0
        return np.repeat(a.astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return np.asarray(im.convert("RGB"))


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def is_image_path(path: str | Path) -> bool:
    return Path(str(path)).suffix.lower() in IMAGE_EXTENSIONS


def kind_of(path: str | Path) -> str | None:
    """``"video"``, ``"audio"``, ``"image"`` or None, from the file extension."""
    ext = Path(str(path)).suffix.lower()
    for kind, exts in (("video", VIDEO_EXTENSIONS), ("audio", AUDIO_EXTENSIONS), ("image", IMAGE_EXTENSIONS)):
        if ext in exts:
            return kind
    return None


__all__ = [
    "SAMPLE_RATE",
    "VIDEO_FPS",
    "FeatureError",
    "decode_audio",
    "is_image_path",
    "iter_video_frames",
    "kind_of",
    "read_image",
]
