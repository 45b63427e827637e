"""``LiveSession``: rolling-window prediction for one viewer's webcam frames and microphone chunks.

Frames and audio chunks are pushed as they arrive (from any thread); :meth:`LiveSession.predict` scores the
last ``window_seconds``; successive scores pass through the same exponential moving average as clip timelines
(:data:`~tailor_core.scoring.SMOOTHING_SECONDS`) into ``Prediction.smoothed``, and the labels are decided on
those. Settings: :class:`~tailor_core.options.LiveOptions`. If a
prediction is already running, a new request returns None at once instead of
queueing: under load a session drops updates rather than falls behind. No UI types here: the app turns its
widgets' values into arrays first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np

from .options import LiveOptions
from .predictor import Predictor
from .scoring import Prediction, decide, ema


class LiveSession:
    """One viewer's live stream: a :class:`~tailor_core.features.StreamExtractor` plus a short score history."""

    def __init__(self, predictor: Predictor, window_seconds: float | None = None,
                 options: LiveOptions | None = None) -> None:
        self.predictor = predictor
        self.options = options or LiveOptions()
        self.window_seconds = float(self.options.window_seconds if window_seconds is None else window_seconds)
        self.history_seconds = float(self.options.history_seconds)
        self._stream = predictor.extractor.stream(window_seconds=self.window_seconds, options=self.options)
        self._busy = threading.Lock()  # held while predicting: a second caller skips instead of waiting
        self._framing = threading.Lock()  # held while a frame is analysed: frames arriving meanwhile are dropped
        self.reset()

    def reset(self) -> None:
        """Forget everything (on stop, or when the viewer leaves); the clock restarts at 0."""
        self._stream.reset()  # a speech-to-text pass still running is dropped, never waited for
        self.started = self.last_input = time.monotonic()
        self.history: list[tuple[float, dict[str, float]]] = []  # (elapsed s, smoothed scores)
        self.last_predict_at = 0.0
        self.frames = 0
        self.dropped_frames = 0
        self.audio_chunks = 0
        self.frame_shape: tuple[int, int] | None = None

    def prepare(self) -> None:
        """Load what the first frame needs (the face tracker) before it arrives."""
        self._stream.prepare()

    def close(self) -> None:
        """Release the face tracker and the buffers now."""
        self._stream.close()

    def elapsed(self) -> float:
        """Seconds since the session started (or was last reset)."""
        return time.monotonic() - self.started

    def add_frame(self, rgb: np.ndarray, t: float | None = None, block: bool = True) -> bool:
        """Add one RGB webcam frame [H, W, 3] uint8 taken ``t`` s after the start (None: now).

        With ``block=False`` a frame that arrives while the previous one is still being analysed is dropped
        (returns False): under load the face track thins out instead of falling behind the camera."""
        if not self._framing.acquire(blocking=block):
            self.dropped_frames += 1
            return False
        try:
            self._stream.add_frame(rgb, t=t)
        finally:
            self._framing.release()
        self.last_input = time.monotonic()
        self.frames += 1
        self.frame_shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        return True

    def add_audio(self, chunk: np.ndarray, sample_rate: int, t: float | None = None) -> None:
        """Add one microphone chunk (any dtype, [n] or [n, channels]) starting ``t`` s after the start."""
        self._stream.add_audio(chunk, sample_rate, t=t)
        self.last_input = time.monotonic()
        self.audio_chunks += 1

    def idle(self) -> float:
        """Seconds since the last frame or audio chunk arrived."""
        return time.monotonic() - self.last_input

    def due(self, every: float) -> bool:
        """True when the last prediction is at least ``every`` seconds old."""
        return time.monotonic() - self.last_predict_at >= every

    def predict(self, block: bool = False) -> Prediction | None:
        """Score the rolling window. None when nothing usable has arrived yet, or (``block=False``) when another
        thread is predicting right now."""
        if not self._busy.acquire(blocking=block):
            return None
        try:
            t0 = time.perf_counter()
            self.last_predict_at = time.monotonic()
            bundle = self._stream.bundle()
            t1 = time.perf_counter()
            if len(bundle) == 0 or not bundle.valid.any():
                return None
            pred = self.predictor.predict_bundle(bundle, timeline=False)
            readouts = self.predictor.read_encoders(bundle)  # of the window, not smoothed
            now = self.elapsed()
            last = self.history[-1] if self.history else None
            # the first update starts from "no emotion", moved by the seconds of input it has seen
            dt = now - last[0] if last else len(bundle) * float(bundle.step_seconds)
            smoothed = ema(last[1] if last else None, pred.scores, dt)
            self.history = [(t, s) for t, s in self.history if now - t <= self.history_seconds]
            self.history.append((now, dict(smoothed)))
            return replace(pred, smoothed=smoothed, labels=decide(smoothed, pred.thresholds),
                           transcript=self._stream.transcript, readouts=readouts,
                           timings={"features": t1 - t0, **pred.timings, "total": time.perf_counter() - t0})
        finally:
            self._busy.release()

    @property
    def transcript(self) -> str:
        """The words heard so far (the last few dozen), in order."""
        return self._stream.transcript


__all__ = ["LiveSession"]
