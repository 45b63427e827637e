"""Inference: from raw media (a clip, a voice recording, a photo, a sentence, a live stream) to scores.

``load_model()`` gives a :class:`Predictor` holding one TAILOR model and one feature extractor, both loaded
once, offline. ``Predictor.predict(...)`` turns any non-empty combination of inputs into a
:class:`Prediction`: the six label probabilities, the labels over their thresholds, a timeline, the
transcript and the label-to-modality attention read from the model's label-guided decoder.

Scoring, stated once:

* **Overall scores**: the input is cut into consecutive, non-overlapping windows of at most
  ``window_steps`` steps (``min(WINDOW_STEPS, config.text_len)``: never longer than the sequences the model
  was trained on). Each window is scored; the overall score of a label is the **mean over windows weighted
  by each window's number of valid steps** (steps where at least one modality is present). A short input
  (up to one window, e.g. a 3 s clip) is scored in one pass.
* **Timeline**: sliding windows of ``timeline_steps`` steps (4 s) every ``timeline_hop`` steps (1 s), scored
  in batches; shorter inputs use proportionally shorter windows. Each point is a real model output.
* **Attention**: the decoder's cross-attention of each label over the fused sequence
  ``[text | audio | visual | common]`` (last decoder layer, averaged over heads). ``modality_attention`` is
  the share of each label's attention on each part (sums to 1), averaged over the overall windows with the
  same weights as the scores; ``attention_maps`` keeps the text/audio/visual parts step by step
  (label × time) across the whole input.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import LABELS, MODALITIES
from .features import (
    IMAGE_STEPS,
    STEP_SECONDS,
    WINDOW_STEPS,
    FeatureBundle,
    FeatureError,
)
from .model import TAILOR

#: The checkpoint shipped with the repository.
DEFAULT_CHECKPOINT: Path = Path(__file__).resolve().parent.parent / "checkpoints" / "tailor-demo"

#: Parts of the fused (PC) sequence, in the model's order.
PC_PARTS: tuple[str, ...] = ("text", "audio", "visual", "common")

ProgressFn = Callable[..., Any]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Prediction:
    """Everything the app and the CLI show about one input. All fields are plain Python (JSON-safe)."""

    scores: dict[str, float]
    labels: list[str]
    thresholds: dict[str, float]
    timeline: list[dict[str, Any]] = field(default_factory=list)
    transcript: str = ""
    words: list[dict[str, Any]] = field(default_factory=list)
    face_steps: list[bool] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)
    modality_attention: dict[str, dict[str, float]] = field(default_factory=dict)
    attention_maps: dict[str, list[list[float]]] = field(default_factory=dict)
    present: dict[str, bool] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0
    source: str = ""
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (floats rounded to 6 digits)."""
        return _jsonable(asdict(self))

    def summary(self) -> str:
        """One human-readable line: the predicted labels and the top scores."""
        top = sorted(self.scores.items(), key=lambda kv: -kv[1])
        labels = ", ".join(self.labels) if self.labels else "none over threshold"
        return f"labels: {labels} | " + " ".join(f"{k}={v:.2f}" for k, v in top)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return x


def _progress(progress: ProgressFn | None, fraction: float, desc: str) -> None:
    if progress is not None:
        try:
            progress(fraction, desc=desc)
        except TypeError:
            progress(fraction)


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return False


class LiveSession:
    """Rolling-window live prediction for one viewer (webcam frames and microphone chunks as they arrive).

    Thread-safe: frames, audio chunks and predictions may come from different threads. Keeps a short
    history of the scores for a live timeline.
    """

    def __init__(self, predictor: Predictor, window_seconds: float = 6.0, history_seconds: float = 60.0) -> None:
        self.predictor = predictor
        self.window_seconds = float(window_seconds)
        self.history_seconds = float(history_seconds)
        self._stream = predictor.extractor.stream(window_seconds=window_seconds)
        self._lock = threading.RLock()
        self._predict_lock = threading.Lock()
        self.started = time.monotonic()
        self.history: list[tuple[float, dict[str, float]]] = []
        self.last: Prediction | None = None
        self.last_predict_at: float = 0.0
        self.frames = 0
        self.audio_chunks = 0
        self.frame_shape: tuple[int, ...] | None = None
        self._words: dict[tuple[float, str], str] = {}
        self.max_words = 60

    def __deepcopy__(self, memo: dict) -> LiveSession:  # gr.State deep-copies its value: keep one session
        return self

    def elapsed(self) -> float:
        """Seconds since the session started (or was last reset)."""
        return time.monotonic() - self.started

    def add_frame(self, rgb: np.ndarray, t: float | None = None) -> None:
        """Add one RGB webcam frame [H,W,3] uint8."""
        with self._lock:
            self._stream.add_frame(rgb, t=t)
            self.frames += 1
            self.frame_shape = tuple(int(v) for v in np.shape(rgb)[:2])

    def add_audio(self, chunk: np.ndarray, sample_rate: int, t: float | None = None) -> None:
        """Add one microphone chunk (any dtype, mono or [N,channels])."""
        with self._lock:
            self._stream.add_audio(chunk, sample_rate, t=t)
            self.audio_chunks += 1

    def due(self, every: float) -> bool:
        """True when the last prediction is at least ``every`` seconds old."""
        return time.monotonic() - self.last_predict_at >= every

    def predict(self, block: bool = True) -> Prediction | None:
        """Score the rolling window. Returns None when nothing usable has arrived yet, or when another
        thread is predicting and ``block`` is False."""
        if not self._predict_lock.acquire(blocking=block):
            return None
        try:
            t0 = time.perf_counter()
            with self._lock:
                bundle = self._stream.bundle()
            t1 = time.perf_counter()
            self.last_predict_at = time.monotonic()
            if bundle is None or len(bundle) == 0 or not _any_present(bundle):
                return None
            pred = self.predictor.predict_bundle(bundle, timeline=False)
            pred.timings = {"features": t1 - t0, **pred.timings, "total": time.perf_counter() - t0}
            now = self.elapsed()
            self.history.append((now, dict(pred.scores)))
            self.history = [(t, s) for t, s in self.history if now - t <= self.history_seconds]
            self.last = pred
            for w in pred.words:  # running transcript: words keyed by their (stream-clock) start time
                self._words.setdefault((round(float(w["start"]), 1), w["text"]), w["text"])
            if len(self._words) > self.max_words:
                for key in sorted(self._words)[: len(self._words) - self.max_words]:
                    del self._words[key]
            return pred
        finally:
            self._predict_lock.release()

    @property
    def transcript(self) -> str:
        """The words heard so far (the last ``max_words``), in order."""
        return " ".join(self._words[k] for k in sorted(self._words))

    def reset(self) -> None:
        """Forget everything (on stop, or when the viewer leaves)."""
        with self._lock:
            self._words.clear()
            self._stream.reset()  # a speech-to-text pass still running is dropped, never waited for
            self.history.clear()
            self.last = None
            self.started = time.monotonic()
            self.last_predict_at = 0.0
            self.frames = self.audio_chunks = 0


def _any_present(bundle: FeatureBundle) -> bool:
    return bool(bundle.text_mask.any() or bundle.audio_mask.any() or bundle.visual_mask.any())


class Predictor:
    """One TAILOR model and one feature extractor, shared by every caller (thread-safe for inference)."""

    def __init__(self, model: TAILOR, extractor: Any, device: str | torch.device | None = None,
                 max_seconds: float = 600.0, timeline_steps: int = 8, timeline_hop: int = 2,
                 batch_size: int = 32, checkpoint: str | Path | None = None) -> None:
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.extractor = extractor
        self.config = model.config
        self.labels: tuple[str, ...] = tuple(self.config.labels)
        self.thresholds: dict[str, float] = dict(zip(self.labels, self.config.label_thresholds(), strict=True))
        self.max_seconds = float(max_seconds)
        # Never score windows longer than the sequences the model was trained on.
        self.window_steps = int(max(1, min(WINDOW_STEPS, self.config.text_len)))
        self.timeline_steps = int(max(1, min(timeline_steps, self.window_steps)))
        self.timeline_hop = int(max(1, timeline_hop))
        self.batch_size = int(batch_size)
        self.checkpoint = str(checkpoint) if checkpoint is not None else None
        self._lock = threading.Lock()  # torch CPU inference is multi-threaded already; serialise calls

    # ------------------------------------------------------------------ public API
    def predict(self, video: str | Path | None = None, audio: Any = None, image: Any = None,
                text: str | None = None, progress: ProgressFn | None = None) -> Prediction:
        """Predict from any non-empty combination of inputs.

        Args:
            video: path of a clip (mp4, mov, webm, mkv, avi); its audio track and speech are used too.
            audio: path of a voice recording, or ``(sample_rate, samples)`` as Gradio gives it.
            image: path of a face photo or an RGB array [H,W,3].
            text: a sentence (spread over the other inputs' duration, or its own length when alone).
            progress: optional ``progress(fraction, desc=...)`` callback (``gr.Progress`` fits).

        Raises:
            FeatureError: nothing given, an empty or unreadable input, or no usable face, voice or words.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        if all(_is_blank(v) for v in (video, audio, image, text)) and not _is_array(image) \
                and not _is_audio_tuple(audio):
            raise FeatureError("Nothing to analyse: give a clip, a voice recording, a photo or some text.")
        bundles: list[FeatureBundle] = []
        fx = self.extractor
        _progress(progress, 0.0, "Reading the input")
        if not _is_blank(video):
            t = time.perf_counter()
            bundles.append(fx.clip(str(video), max_seconds=self.max_seconds, transcribe=True,
                                   progress=_sub_progress(progress, 0.0, 0.8, "Analysing the clip")))
            timings["video"] = time.perf_counter() - t
        if _is_audio_tuple(audio):
            t = time.perf_counter()
            sr, samples = audio
            bundles.append(fx.audio(np.asarray(samples), int(sr), max_seconds=self.max_seconds))
            timings["audio"] = time.perf_counter() - t
        elif not _is_blank(audio):
            t = time.perf_counter()
            bundles.append(fx.clip(str(audio), max_seconds=self.max_seconds, transcribe=True,
                                   progress=_sub_progress(progress, 0.0, 0.8, "Analysing the recording")))
            timings["audio"] = time.perf_counter() - t
        length = max((len(b) for b in bundles), default=0)
        if _is_array(image) or not _is_blank(image):
            t = time.perf_counter()
            _progress(progress, 0.8, "Looking for a face")
            img = image if _is_array(image) else str(image)
            bundles.append(fx.image(img, n_steps=length or IMAGE_STEPS))
            timings["image"] = time.perf_counter() - t
            length = max(length, len(bundles[-1]))
        if not _is_blank(text):
            t = time.perf_counter()
            _progress(progress, 0.85, "Reading the text")
            # Typed text goes first: it takes precedence over a transcript on the same steps.
            bundles.insert(0, fx.text(str(text), n_steps=length or None))
            timings["text"] = time.perf_counter() - t
        bundle = bundles[0] if len(bundles) == 1 else FeatureBundle.merge(*bundles)
        _progress(progress, 0.9, "Scoring")
        pred = self.predict_bundle(bundle)
        pred.timings = {**timings, **pred.timings, "total": time.perf_counter() - t0}
        _progress(progress, 1.0, "Done")
        return pred

    def predict_bundle(self, bundle: FeatureBundle, timeline: bool = True) -> Prediction:
        """Score an already-extracted :class:`FeatureBundle` (see the module docstring for how)."""
        if bundle is None or len(bundle) == 0:
            raise FeatureError("The input is empty: there is nothing to analyse.")
        present = {"text": bool(bundle.text_mask.any()), "audio": bool(bundle.audio_mask.any()),
                   "visual": bool(bundle.visual_mask.any())}
        if not any(present.values()):
            raise FeatureError("No face, voice or words were found in the input, so there is nothing to score.")
        t0 = time.perf_counter()
        n = len(bundle)
        ws = self.window_steps
        starts = list(range(0, n, ws))
        spans = [(s, min(n, s + ws)) for s in starts]
        scores, attn = self._run(bundle, spans)  # [W,N], [W,N,Lpc] padded to the longest window
        valid = np.array([_valid_steps(bundle, a, b) for a, b in spans], dtype=np.float64)
        weights = valid / valid.sum() if valid.sum() > 0 else np.full(len(spans), 1.0 / len(spans))
        overall = (weights[:, None] * scores).sum(0)

        # Attention: per window, slices of the padded PC sequence (padding is masked → attention 0 there).
        width = max(b - a for a, b in spans)
        sl = self.model.modality_slices(width, width, width)
        share = np.zeros((len(self.labels), len(PC_PARTS)))
        maps = {m: np.zeros((len(self.labels), n)) for m in MODALITIES}
        for w, (a, b) in enumerate(spans):
            att = attn[w]  # [N, Lpc]
            total = att.sum(-1, keepdims=True)
            total[total <= 0] = 1.0
            share += weights[w] * np.stack([att[:, sl[p]].sum(-1) for p in PC_PARTS], -1) / total
            for m in MODALITIES:
                maps[m][:, a:b] = att[:, sl[m]][:, : b - a]
        share /= np.clip(share.sum(-1, keepdims=True), 1e-12, None)
        t_model = time.perf_counter() - t0

        points: list[dict[str, Any]] = []
        if timeline:
            points = self._timeline(bundle)
        t_timeline = time.perf_counter() - t0 - t_model

        step = float(bundle.step_seconds)
        thresholds = self.thresholds
        score_map = {k: float(v) for k, v in zip(self.labels, overall, strict=True)}
        return Prediction(
            scores=score_map,
            labels=[k for k in self.labels if score_map[k] >= thresholds[k]],
            thresholds=dict(thresholds),
            timeline=points,
            transcript=bundle.transcript,
            words=[{"text": w.text, "start": float(w.start), "end": float(w.end), "step": int(w.step)}
                   for w in bundle.words],
            face_steps=[bool(v) for v in bundle.visual_mask],
            step_times=[float(t) for t in bundle.times],
            modality_attention={k: {p: float(share[i, j]) for j, p in enumerate(PC_PARTS)}
                                for i, k in enumerate(self.labels)},
            attention_maps={m: maps[m].tolist() for m in MODALITIES},
            present=present,
            timings={"model": t_model, "timeline": t_timeline},
            duration=float(bundle.duration or n * step),
            source=str(bundle.source or ""),
            truncated=bool(getattr(bundle, "truncated", False)),
        )

    def stream(self, window_seconds: float = 6.0, history_seconds: float = 60.0) -> LiveSession:
        """A live session over a rolling window of the last ``window_seconds`` seconds."""
        return LiveSession(self, window_seconds=window_seconds, history_seconds=history_seconds)

    # ------------------------------------------------------------------ internals
    def _timeline(self, bundle: FeatureBundle) -> list[dict[str, Any]]:
        n = len(bundle)
        size = min(self.timeline_steps, n) if n >= 2 * self.timeline_steps else max(1, min(n, max(2, n // 2)))
        hop = self.timeline_hop if size == self.timeline_steps else max(1, size // 3)
        spans = [(s, s + size) for s in range(0, max(1, n - size + 1), hop)]
        if spans[-1][1] < n:
            spans.append((n - size, n))
        spans = [(a, b) for a, b in spans if _valid_steps(bundle, a, b) > 0]
        if not spans:
            return []
        scores, _ = self._run(bundle, spans, attention=False)
        step = float(bundle.step_seconds)
        t0 = float(bundle.times[0]) if n else 0.0
        return [{"start": t0 + a * step, "end": t0 + b * step,
                 "scores": {k: float(v) for k, v in zip(self.labels, row, strict=True)}}
                for (a, b), row in zip(spans, scores, strict=True)]

    def _run(self, bundle: FeatureBundle, spans: Sequence[tuple[int, int]], attention: bool = True
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """Score windows ``spans`` of ``bundle`` in batches (padded with fully masked steps).

        Returns scores [W,N] and, if asked, head-averaged decoder attention [W,N,L_pc] (L_pc for the
        longest window)."""
        width = max(b - a for a, b in spans)
        arrays = {m: getattr(bundle, m) for m in MODALITIES}
        masks = {m: getattr(bundle, f"{m}_mask") for m in MODALITIES}
        out_scores, out_attn = [], []
        for i in range(0, len(spans), self.batch_size):
            chunk = spans[i: i + self.batch_size]
            feats = {m: np.zeros((len(chunk), width, arrays[m].shape[1]), np.float32) for m in MODALITIES}
            fmask = {m: np.zeros((len(chunk), width), bool) for m in MODALITIES}
            for j, (a, b) in enumerate(chunk):
                for m in MODALITIES:
                    feats[m][j, : b - a] = arrays[m][a:b]
                    fmask[m][j, : b - a] = masks[m][a:b]
            with self._lock, torch.inference_mode():
                out = self.model(
                    *(torch.from_numpy(feats[m]).to(self.device) for m in MODALITIES),
                    **{f"{m}_mask": torch.from_numpy(fmask[m]).to(self.device) for m in MODALITIES},
                    return_attention=attention,
                )
                out_scores.append(out.scores.float().cpu().numpy())
                if attention and out.attention is not None:
                    out_attn.append(out.attention.float().mean(2).cpu().numpy())  # mean over heads
        scores = np.concatenate(out_scores).astype(np.float64)
        attn = np.concatenate(out_attn).astype(np.float64) if out_attn else None
        return scores, attn


def _valid_steps(bundle: FeatureBundle, a: int, b: int) -> int:
    m = bundle.text_mask[a:b] | bundle.audio_mask[a:b] | bundle.visual_mask[a:b]
    return int(m.sum())


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray)


def _is_audio_tuple(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[1], np.ndarray)


def _sub_progress(progress: ProgressFn | None, lo: float, hi: float, desc: str) -> ProgressFn | None:
    """Map an extractor's 0..1 progress into ``[lo, hi]`` of the caller's progress."""
    if progress is None:
        return None

    def sub(fraction: float, desc: str | None = None, **_: Any) -> None:
        _progress(progress, lo + (hi - lo) * float(fraction), desc or sub.desc)

    sub.desc = desc  # type: ignore[attr-defined]
    return sub


def media_duration(path: str | Path) -> float | None:
    """Duration in seconds of a media file from its container header (no decoding), or None if unknown.

    Raises :class:`FeatureError` when the file cannot be opened as media at all."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return float(container.duration) / 1_000_000
            durations = [float(s.duration * s.time_base) for s in container.streams
                         if s.duration is not None and s.time_base is not None]
            return max(durations) if durations else None
    except (av.error.FFmpegError, OSError, ValueError):
        raise FeatureError(f"{Path(path).name} is not a readable audio or video file.") from None


def load_model(path: str | Path | None = None, device: str | torch.device | None = None,
               speech: bool = True, **kwargs: Any) -> Predictor:
    """Load a checkpoint (default: the shipped demo) and the feature extractors, offline.

    Args:
        path: a checkpoint directory (``config.json`` + ``model.safetensors``); default :data:`DEFAULT_CHECKPOINT`.
        device: ``"cuda"``/``"cpu"``; default CUDA when available.
        speech: load the speech-to-text model (set False for visual/audio-only uses).
        **kwargs: passed to :class:`Predictor` (``max_seconds``, ``timeline_steps``, ...).
    """
    from .features import FeatureExtractor

    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    dev = pick_device(device)
    model = TAILOR.from_pretrained(path, device=dev)
    dims = {"text": model.config.text_dim, "audio": model.config.audio_dim, "visual": model.config.visual_dim}
    from . import features as _f

    expected = {"text": _f.TEXT_DIM, "audio": _f.AUDIO_DIM, "visual": _f.VISUAL_DIM}
    if dims != expected:
        raise ValueError(f"checkpoint {path} expects feature sizes {dims}, but the extractors give {expected}: "
                         "it was not trained on this project's features")
    extractor = FeatureExtractor(device="cuda" if dev.type == "cuda" else "cpu", speech=speech).load()
    return Predictor(model, extractor, device=dev, checkpoint=path, **kwargs)


__all__ = [
    "DEFAULT_CHECKPOINT",
    "LABELS",
    "STEP_SECONDS",
    "LiveSession",
    "Prediction",
    "Predictor",
    "load_model",
    "media_duration",
    "pick_device",
]
