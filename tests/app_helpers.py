"""Shared, process-wide (loaded once) objects for the app and inference tests.

pytest fixtures in two modules would load the model twice; these cached helpers load it once per process.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
ARTIFACTS = ROOT / "tests" / "artifacts"
HAPPY = ASSETS / "ravdess_happy.mp4"
SAD = ASSETS / "ravdess_sad.mp4"
SILENT = ASSETS / "pexels_silent.mp4"
FACE = ASSETS / "face.jpg"
if str(ROOT) not in sys.path:  # `import app` from the repository root
    sys.path.insert(0, str(ROOT))


def checkpoint_dir() -> Path:
    """The shipped checkpoint; a random debug one (in a temp dir) only while it does not exist yet."""
    from tailor_core.predictor import default_checkpoint

    if not os.environ.get("TAILOR_TEST_DEBUG_MODEL"):
        return default_checkpoint()
    return _debug_checkpoint()


@functools.lru_cache(maxsize=1)
def _debug_checkpoint() -> Path:
    import tempfile

    from tailor_core import TAILOR, TailorConfig
    from tailor_core.features import AUDIO_DIM, TEXT_DIM, VISUAL_DIM

    out = Path(tempfile.mkdtemp(prefix="tailor-debug-ckpt-"))
    cfg = TailorConfig.debug(text_dim=TEXT_DIM, audio_dim=AUDIO_DIM, visual_dim=VISUAL_DIM, text_len=12,
                             audio_len=12, visual_len=12)
    TAILOR(cfg).save_pretrained(out)
    return out


@functools.lru_cache(maxsize=1)
def get_predictor():
    """One Predictor per test process."""
    from tailor_core.predictor import load_model

    return load_model(checkpoint_dir(), device="cpu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.lru_cache(maxsize=1)
def get_demo():
    """The app's Blocks, built once per test process (its examples cached in a fresh folder: never the outputs
    of an older code's run)."""
    import tempfile

    import app as app_module

    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="tailor-test-examples-"))
    return app_module.build_app(get_predictor())


@functools.lru_cache(maxsize=1)
def get_server() -> str:
    """Launch the app (in this process, in a thread) once; returns its URL."""
    import app as app_module

    demo = get_demo()
    port = free_port()
    app_module.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    _wait_http(url)
    return url


def age_the_server() -> None:
    """What hours of uptime do to the server's files: every time-based sweep, Gradio's (``delete_cache``) and the
    app's own, runs now as if its age limit had long passed. A file a page still offers must survive it."""
    from gradio.route_utils import delete_files_created_by_app

    import app

    demo = get_demo()
    if getattr(demo, "delete_cache", None):
        delete_files_created_by_app(demo, age=0)
    if hasattr(app, "uploads"):
        app.uploads().sweep(now=time.time() + 3600)


def _wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"app did not start at {url}")


def make_no_face_clip(path: Path, seconds: float = 3.0) -> Path:
    """A small clip with moving grey noise (no face) and a 220 Hz tone, made with PyAV."""
    from media_utils import write_clip

    rng = np.random.default_rng(0)
    fps, sr = 10, 16000
    frames = [(rng.random((120, 160, 3)) * 60 + 100).astype(np.uint8) for _ in range(int(seconds * fps))]
    t = np.arange(int(seconds * sr)) / sr
    return write_clip(path, frames, fps, audio=(0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
                      sample_rate=sr)


def make_fake_media(src: Path, y4m: Path, wav: Path, width: int = 640, height: int = 480, fps: int = 15) -> None:
    """Chromium's fake camera/microphone inputs from a clip: a Y4M (I420, letterboxed) and a 16-bit WAV."""
    import wave

    import av

    with av.open(str(src)) as c, open(y4m, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        vs = c.streams.video[0]
        next_t = 0.0
        for frame in c.decode(vs):
            if frame.time is None or frame.time + 1e-6 < next_t:
                continue
            next_t += 1.0 / fps
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            scale = min(width / w, height / h)
            nw, nh = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
            small = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(width=nw, height=nh).to_ndarray(
                format="rgb24")
            canvas = np.zeros((height, width, 3), np.uint8)
            y0, x0 = (height - nh) // 2, (width - nw) // 2
            canvas[y0:y0 + nh, x0:x0 + nw] = small
            yuv = av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p").to_ndarray()
            f.write(b"FRAME\n")
            f.write(np.ascontiguousarray(yuv).tobytes())
    with av.open(str(src)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        chunks = [r.to_ndarray().reshape(-1) for fr in c.decode(c.streams.audio[0])
                  for r in resampler.resample(fr)]
    pcm = np.concatenate(chunks).astype(np.int16)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())


__all__ = ["ARTIFACTS", "ASSETS", "FACE", "HAPPY", "SAD", "SILENT", "age_the_server", "checkpoint_dir", "free_port",
           "get_demo",
           "get_predictor", "get_server", "make_fake_media", "make_no_face_clip"]
