"""``LiveSession``: rolling-window prediction for one viewer's webcam frames and microphone chunks.

Frames and audio chunks are pushed as they arrive (from any thread); :meth:`LiveSession.predict` scores the
last ``window_seconds``; successive scores pass through the same exponential moving average as clip timelines
(:data:`~tailor_core.scoring.SMOOTHING_SECONDS`) into ``Prediction.smoothed``, and the labels are decided on
those. Settings: :class:`~tailor_core.options.LiveOptions`. If a
prediction is already running, a new request returns None at once instead of
queueing: under load a session drops updates rather than falls behind. No UI types here: the app turns its
widgets' values into arrays first.

The app scores in the background (:meth:`LiveSession.start_updates`): one thread per session runs an update
every ``update_seconds`` (or right after the last one, when that took longer) while input keeps arriving, and
the widgets' handlers only add what arrived and show the newest update (:meth:`LiveSession.take_update`), so a
frame or an audio chunk never waits for a score, and a score never waits for a frame's face or for speech to
text: an update starts a transcription due only after its own voice encoder pass is on its way, waits for that
pass at most ``voice_wait_seconds``, and the transcription runs beside the updates (its words reach the scores
when it finishes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace

import numpy as np

from .options import LiveOptions
from .predictor import Predictor
from .scoring import Prediction, decide, ema

log = logging.getLogger(__name__)


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
        self._updates = threading.Lock()  # the background updater's state below
        self._update_ready = threading.Condition(self._updates)  # notified when an update is ready
        self._updater: threading.Thread | None = None
        self._framer: threading.Thread | None = None  # analyses the newest offered frame (offer_frame)
        self._frame_ready = threading.Event()
        self._update_every: float | None = None  # None: no background updates
        self._closed = threading.Event()
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything (on stop, or when the viewer leaves); the clock restarts at 0."""
        self._stream.reset()  # a speech-to-text pass still running is dropped, never waited for
        with self._updates:
            self._generation += 1  # an update still running belongs to the old stream: it is dropped
            self._latest: tuple[float, Prediction] | None = None
            self._scored_input = 0.0
            self._offered: tuple[np.ndarray, float] | None = None  # the newest frame not analysed yet
        self.started = self.last_input = time.monotonic()
        self.history: list[tuple[float, dict[str, float]]] = []  # (elapsed s, smoothed scores)
        self.last_predict_at = 0.0
        # recent updates as (seconds since the start when it was done, seconds it took), and when each was taken
        # for showing
        self.update_log: deque[tuple[float, float]] = deque(maxlen=300)
        self.shown_log: deque[float] = deque(maxlen=300)
        self.frames = 0
        self.dropped_frames = 0
        self.audio_chunks = 0
        self.frame_shape: tuple[int, int] | None = None

    def prepare(self) -> None:
        """Load what the first frame needs (the face tracker) before it arrives."""
        self._stream.prepare()

    def close(self) -> None:
        """Release the face tracker and the buffers now, and end the background updates (an update still running
        finishes on its own; its result is dropped)."""
        self._closed.set()
        with self._updates:
            self._generation += 1
            self._latest = None
            self._offered = None  # a camera frame not analysed yet is not kept past Stop
            self._update_ready.notify_all()
        self._stream.close()

    # ------------------------------------------------------------------ background updates
    def start_updates(self, every: float | None = None, prepare: bool = True) -> None:
        """Score in a background thread from now on: an update every ``every`` s (default: the options'
        ``update_seconds``), or right after the previous one when that took longer, whenever input arrived since
        the last one. Take them with :meth:`take_update`. The thread stops after ``updater_idle_seconds`` without
        input and starts again with the next frame or chunk; ``prepare``: it first creates the face tracker (so
        that neither Start nor the first frame waits for it)."""
        with self._updates:
            self._update_every = float(self.options.update_seconds if every is None else every)
        self._wake(prepare=prepare)

    def take_update(self, wait: float = 0.0) -> tuple[float, Prediction] | None:
        """The newest background update not taken yet, as (seconds since the start, prediction); None if there
        is none (each update is handed out once, to whichever caller asks first). ``wait``: if there is none
        yet, wait this long for one."""
        with self._updates:
            if self._latest is None and wait > 0 and not self._closed.is_set():
                self._update_ready.wait_for(lambda: self._latest is not None or self._closed.is_set(), wait)
            latest, self._latest = self._latest, None
        if latest is not None:
            self.shown_log.append(self.elapsed())
        return latest

    def wait_for_first_frame(self, wait: float) -> bool:
        """Before the first scores the status can already say whether a face is in view: wait up to ``wait`` s
        for the first offered frame to be analysed. True when one has been (at once if already)."""
        with self._updates:
            if not self.frames and wait > 0 and not self._closed.is_set():
                self._update_ready.wait_for(lambda: self.frames > 0 or self._closed.is_set(), wait)
            return self.frames > 0

    def _wake(self, prepare: bool = False) -> None:
        with self._updates:
            if self._update_every is None or self._closed.is_set() or self._updater is not None:
                return
            self._updater = threading.Thread(target=self._update_loop, args=(prepare,), name="tailor-live-updates",
                                             daemon=False)  # a native model call killed at exit aborts the process
            self._updater.start()

    def _update_loop(self, prepare: bool) -> None:
        try:
            if prepare:
                self._stream.prepare()
            while not self._closed.is_set():
                with self._updates:
                    every, generation, scored = self._update_every, self._generation, self._scored_input
                    if every is None or self.idle() > self.options.updater_idle_seconds:
                        self._updater = None
                        return
                if self.last_input <= scored:  # nothing new since the last update
                    self._closed.wait(0.02)
                    continue
                wait = self.last_predict_at + every - time.monotonic()
                if wait > 0:
                    self._closed.wait(wait)
                    continue
                with self._updates:
                    self._scored_input = self.last_input
                try:
                    # the voice pass is waited for only so long (a pass behind a transcription on the shared
                    # Whisper model, or on a busy machine, finishes later and the next update takes it up)
                    pred = self.predict(block=True, voice_wait=self.options.voice_wait_seconds)
                except Exception as e:  # noqa: BLE001 - an update that fails is skipped; the next one may work
                    log.warning("live update failed: %s", e)
                    self._closed.wait(every)
                    continue
                with self._updates:
                    if pred is not None and generation == self._generation and self.history:
                        self._latest = (self.history[-1][0], pred)
                        self._update_ready.notify_all()
        finally:
            with self._updates:
                if self._updater is threading.current_thread():
                    self._updater = None

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
        with self._updates:
            self.frames += 1
            self._update_ready.notify_all()  # wait_for_first_frame
        self.frame_shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        self._wake()
        return True

    def offer_frame(self, rgb: np.ndarray) -> None:
        """Hand over a webcam frame taken now and return at once: a background thread finds its face. Only the
        newest frame waits for it; one still waiting when a newer one comes is dropped (``dropped_frames``), so
        under load the face track thins out instead of falling behind the camera, and the caller never waits."""
        t = self._stream.clock()
        with self._updates:
            if self._closed.is_set():
                return
            if self._offered is not None:
                self.dropped_frames += 1
            self._offered = (rgb, t)
            self.frame_shape = (int(rgb.shape[0]), int(rgb.shape[1]))
            self._frame_ready.set()
            if self._framer is None:
                self._framer = threading.Thread(target=self._frame_loop, name="tailor-live-frames",
                                                daemon=False)  # a native call killed at exit aborts the process
                self._framer.start()
        self.last_input = time.monotonic()

    def _frame_loop(self) -> None:
        try:
            while not self._closed.is_set():
                self._frame_ready.wait(0.2)
                with self._updates:
                    self._frame_ready.clear()
                    offered, self._offered = self._offered, None
                    if offered is None and self.idle() > self.options.updater_idle_seconds:
                        self._framer = None
                        return
                if offered is not None:
                    try:
                        self.add_frame(*offered)
                    except Exception as e:  # noqa: BLE001 - one bad frame must not end the face track
                        log.warning("live frame failed: %s", e)
        finally:
            with self._updates:
                if self._framer is threading.current_thread():
                    self._framer = None

    def add_audio(self, chunk: np.ndarray, sample_rate: int, t: float | None = None) -> None:
        """Add one microphone chunk (any dtype, [n] or [n, channels]) starting ``t`` s after the start."""
        self._stream.add_audio(chunk, sample_rate, t=t)
        self.last_input = time.monotonic()
        self.audio_chunks += 1
        self._wake()

    def idle(self) -> float:
        """Seconds since the last frame or audio chunk arrived."""
        return time.monotonic() - self.last_input

    def due(self, every: float) -> bool:
        """True when the last prediction is at least ``every`` seconds old."""
        return time.monotonic() - self.last_predict_at >= every

    def predict(self, block: bool = False, voice_wait: float | None = None) -> Prediction | None:
        """Score the rolling window. None when nothing usable has arrived yet, when the session was reset
        meanwhile, or (``block=False``) when another thread is predicting right now. It never waits for speech to
        text (a background transcription runs beside it). ``voice_wait`` (the background updates use
        ``voice_wait_seconds``): wait for the voice encoder pass at most this long (a slower pass goes on, the
        newest steps' voice follows at the next update), and start a transcription due only once the pass is
        on its way, so that the pass reaches the shared Whisper model first; None: wait for the pass (replaying
        a file faster than real time gives the same features on any machine)."""
        if not self._busy.acquire(blocking=block):
            return None
        try:
            t0 = time.perf_counter()
            generation = self._generation
            previous, self.last_predict_at = self.last_predict_at, time.monotonic()
            bundle = self._stream.bundle(voice_wait=voice_wait)
            t1 = time.perf_counter()
            if len(bundle) == 0 or not bundle.valid.any():
                self.last_predict_at = previous  # nothing to score yet: the first usable input is scored at once
                return None
            pred = self.predictor.predict_bundle(bundle, timeline=False)
            readouts = self.predictor.read_encoders(bundle)  # of the window, not smoothed
            if generation != self._generation:  # reset while it ran: this update belongs to the old stream
                return None
            now = self.elapsed()
            last = self.history[-1] if self.history else None
            # the first update starts from "no emotion", moved by the seconds of input it has seen
            dt = now - last[0] if last else len(bundle) * float(bundle.step_seconds)
            smoothed = ema(last[1] if last else None, pred.scores, dt)
            self.history = [(t, s) for t, s in self.history if now - t <= self.history_seconds]
            self.history.append((now, dict(smoothed)))
            self.update_log.append((now, time.perf_counter() - t0))
            return replace(pred, smoothed=smoothed, labels=decide(smoothed, pred.thresholds),
                           transcript=self._stream.transcript, readouts=readouts,
                           timings={"features": t1 - t0, **pred.timings, "total": time.perf_counter() - t0})
        finally:
            self._busy.release()

    @property
    def transcript(self) -> str:
        """The words heard so far (the last few dozen), in order."""
        return self._stream.transcript

    @property
    def face_in_view(self) -> bool | None:
        """Whether the newest analysed frame shows a face (None: no frame analysed yet)."""
        return self._stream.face_in_view

    @property
    def heard_seconds(self) -> float:
        """Seconds of audio received since the start."""
        return self._stream.heard_seconds


__all__ = ["LiveSession"]
