"""``Predictor``: one TAILOR model and one feature extractor, loaded once, turning inputs into a Prediction.

``load_model()`` gives a :class:`Predictor` on the shipped checkpoint (or another), offline, on CUDA when there
is one. ``Predictor.predict(...)`` takes any non-empty combination of a clip, a voice recording, a photo and a
sentence; ``Predictor.predict_bundle`` scores features already extracted (the live session uses it). How windows
are chosen and scores combined is :mod:`tailor_core.scoring`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import resources, scoring
from .config import MODALITIES
from .features import AUDIO_DIM, IMAGE_STEPS, TEXT_DIM, VISUAL_DIM, FeatureBundle, FeatureError, FeatureExtractor
from .features.lifetime import Closeable
from .features.voice_states import PAUSE_SECONDS
from .model import TAILOR
from .options import DEFAULT_LIMITS, Limits
from .progress import ProgressFn, report, scaled
from .readouts import VoiceReadout, read_encoders
from .scoring import Prediction, Span

#: The checkpoint shipped with the project (found through :func:`tailor_core.resources.find`).
DEFAULT_CHECKPOINT_NAME: str = "tailor-demo"


def default_checkpoint() -> Path:
    """The shipped checkpoint's directory."""
    return resources.find("checkpoints", DEFAULT_CHECKPOINT_NAME)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record in ``timings[name]`` the seconds the ``with`` block took."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - start


def _given(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


class Predictor(Closeable):
    """One TAILOR model and one feature extractor, shared by every caller (thread-safe for inference).

    :meth:`close` (or a ``with`` block) releases what the extractor holds open (the face landmarkers)."""

    def __init__(self, model: TAILOR, extractor: FeatureExtractor, device: str | torch.device | None = None,
                 timeline_steps: int = scoring.TIMELINE_STEPS, timeline_hop: int = scoring.TIMELINE_HOP,
                 batch_size: int = 32, checkpoint: str | Path | None = None,
                 voice_readout: VoiceReadout | None = None, face_guard: bool = True) -> None:
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.extractor = extractor
        self.config = model.config
        self.labels: tuple[str, ...] = tuple(self.config.labels)
        self.thresholds: dict[str, float] = dict(zip(self.labels, self.config.label_thresholds(), strict=True))
        # Never score windows longer than the sequences the model was trained on.
        self.max_window_steps = max(1, min(self.config.text_len, self.config.audio_len, self.config.visual_len))
        self.timeline_steps = max(1, min(int(timeline_steps), self.max_window_steps))
        self.timeline_hop = max(1, int(timeline_hop))
        self.batch_size = int(batch_size)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.voice_readout = voice_readout or VoiceReadout()
        self.face_guard = bool(face_guard)  # scoring.face_guard: the face raises no label it does not show
        self._thresholds = np.array([self.thresholds[k] for k in self.labels])
        self._lock = threading.Lock()  # torch CPU inference is multi-threaded already: one call at a time

    @property
    def limits(self) -> Limits:
        """The input caps (the extractor enforces them)."""
        return self.extractor.limits

    def close(self) -> None:
        """Release the extractor's face landmarkers (they load again if the predictor is used later)."""
        self.extractor.close()

    # ------------------------------------------------------------------ public API
    def predict(self, video: str | Path | None = None, audio: str | Path | np.ndarray | None = None,
                image: str | Path | np.ndarray | None = None, text: str | None = None, *,
                sample_rate: int | None = None, progress: ProgressFn | None = None) -> Prediction:
        """Predict from any non-empty combination of inputs.

        Args:
            video: path of a clip (mp4, mov, webm, mkv, ...); its audio track and speech are used too.
            audio: path of a voice recording, or samples ([n] or [n, channels], any dtype) with ``sample_rate``.
            image: path of a face photo, or an RGB array [H, W, 3].
            text: a sentence (spread over the other inputs' duration, or its own length when alone).
            progress: optional ``progress(fraction, desc=...)`` callback (``gr.Progress`` fits).

        Raises:
            FeatureError: nothing given, an input over a cap, an empty or unreadable input, or no usable face,
                voice or words.
        """
        if not any(_given(v) for v in (video, audio, image, text)):
            raise FeatureError("Nothing to analyse: give a clip, a voice recording, a photo or some text.")
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        fx = self.extractor
        bundles: list[FeatureBundle] = []
        report(progress, 0.0, "Reading the input")
        if _given(video):
            with _timed(timings, "video"):
                bundles.append(fx.clip(video, progress=scaled(progress, 0.0, 0.8)))
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise FeatureError("audio samples need their sample_rate")
            with _timed(timings, "audio"):
                bundles.append(fx.audio(audio, int(sample_rate)))
        elif _given(audio):
            with _timed(timings, "audio"):
                bundles.append(fx.clip(audio, progress=scaled(progress, 0.0, 0.8)))
        length = max((len(b) for b in bundles), default=0)
        if _given(image):
            report(progress, 0.8, "Looking for a face")
            with _timed(timings, "image"):
                bundles.append(fx.image(image, n_steps=length or IMAGE_STEPS))
            length = max(length, len(bundles[-1]))
        if _given(text):
            report(progress, 0.85, "Reading the text")
            with _timed(timings, "text"):
                # Typed text goes first: it takes precedence over a transcript on the same steps.
                bundles.insert(0, fx.text(str(text), n_steps=length or None))
        bundle = bundles[0] if len(bundles) == 1 else FeatureBundle.merge(*bundles)
        report(progress, 0.9, "Scoring")
        pred = self.predict_bundle(bundle)
        with _timed(timings, "readouts"):
            readouts = self.read_encoders(bundle)
        report(progress, 1.0, "Done")
        return replace(pred, readouts=readouts,
                       timings={**timings, **pred.timings, "total": time.perf_counter() - t0})

    def predict_bundle(self, bundle: FeatureBundle, timeline: bool = True) -> Prediction:
        """Score an already-extracted :class:`FeatureBundle` (see :mod:`tailor_core.scoring` for how): one model
        pass per window; the summary is their weighted mean and, with ``timeline``, each is a timeline point."""
        if bundle is None or len(bundle) == 0:
            raise FeatureError("The input is empty: there is nothing to analyse.")
        if not bundle.valid.any():
            raise FeatureError("No face, voice or words were found in the input, so there is nothing to score.")
        timings: dict[str, float] = {}
        with _timed(timings, "model"):
            pred = self._score(bundle, timeline)
        return replace(pred, timings=timings)

    def _score(self, bundle: FeatureBundle, timeline: bool) -> Prediction:
        spans = scoring.timeline_spans(bundle.valid, self.timeline_steps, self.timeline_hop)
        scores, attention, held, parts = self._score_windows(bundle, spans, attention=True)
        width = max(b - a for a, b in spans)
        overall, share, maps = scoring.combine(bundle, spans, scores, attention,
                                               self.model.modality_slices(width, width, width))
        if parts is not None:  # the summary keeps the rule too, against the parts' own summaries
            weights = scoring.window_weights(bundle.valid, spans)
            overall, summary_held = scoring.face_guard(overall, weights @ parts[0], weights @ parts[1],
                                                       self._thresholds, True)
            held = np.vstack([held, summary_held])
        points = []
        if timeline:
            points = scoring.smooth_timeline(scoring.timeline_points(bundle, spans, scores, self.labels))
        notes = [f"Only the first {self.limits.max_seconds:.0f} s were analysed."] if bundle.truncated else []
        notes += bundle.notes
        if held.any():
            names = ", ".join(k for k, h in zip(self.labels, held.any(0), strict=True) if h)
            notes.append(f"Held back: {names}. Neither the face alone nor the voice and words alone read it, "
                         "so the face was not allowed to add it.")
        return scoring.build_prediction(bundle, self.labels, self.thresholds, overall, share, maps, points, notes)

    def read_encoders(self, bundle: FeatureBundle) -> dict[str, dict[str, float]]:
        """What each encoder alone reads from ``bundle`` (:func:`tailor_core.readouts.read_encoders`)."""
        return read_encoders(bundle, self.extractor.text_encoder, self.voice_readout)

    # ------------------------------------------------------------------ the model, in batches
    def _score_windows(self, bundle: FeatureBundle, spans: Sequence[Span], attention: bool = False
                       ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Score windows ``spans`` of ``bundle`` in batches, each padded with masked steps to the longest; with
        ``face_guard``, each window that has a face and something else is also read without its face and from its
        face alone, in the same batch (:func:`tailor_core.scoring.face_guard`).

        Returns scores [W, N], head-averaged decoder attention [W, N, L_pc] if asked (of the whole reading), held
        [W, N] bool (where the face guard lowered a label) and, when the guard ran, the part readings
        (without the face, the face alone) [W, N] each, as :func:`tailor_core.scoring.part_readings` gives them."""
        n = len(self.labels)
        if not spans:
            return np.zeros((0, n)), None, np.zeros((0, n), bool), None
        width = max(b - a for a, b in spans)
        out_scores, out_attn, out_held, out_parts = [], [], [], []
        guard_ran = False
        for i in range(0, len(spans), self.batch_size):
            chunk = spans[i: i + self.batch_size]
            x, mask = {}, {}
            for m in MODALITIES:
                x[m] = np.zeros((len(chunk), width, getattr(bundle, m).shape[1]), np.float32)
                mask[m] = np.zeros((len(chunk), width), bool)
                for j, (a, b) in enumerate(chunk):
                    x[m][j, : b - a] = getattr(bundle, m)[a:b]
                    mask[m][j, : b - a] = getattr(bundle, f"{m}_mask")[a:b]
            face, rest = mask["visual"].any(1), (mask["text"] | mask["audio"]).any(1)
            guarded = face & rest if self.face_guard else np.zeros(len(chunk), bool)
            readings = [mask]
            if guarded.any():  # the same windows twice more: without the face, and the face alone
                readings.append({**mask, "visual": np.zeros_like(mask["visual"])})
                readings.append({**mask, "text": np.zeros_like(mask["text"]), "audio": np.zeros_like(mask["audio"])})
            inputs: dict[str, torch.Tensor] = {}
            for m in MODALITIES:
                inputs[m] = torch.from_numpy(np.concatenate([x[m]] * len(readings))).to(self.device)
                inputs[f"{m}_mask"] = torch.from_numpy(np.concatenate([r[m] for r in readings])).to(self.device)
            with self._lock, torch.inference_mode():
                out = self.model(**inputs, return_attention=attention)
            all_scores = out.scores.float().cpu().numpy().astype(np.float64).reshape(len(readings), len(chunk), n)
            scores, held = all_scores[0], np.zeros((len(chunk), n), bool)
            without, face_only = all_scores[0], all_scores[0]  # unused where no window is guarded
            if len(readings) == 3:
                guard_ran = True
                without, face_only = all_scores[1], all_scores[2]
                scores, held = scoring.face_guard(all_scores[0], without, face_only, self._thresholds, guarded)
            out_scores.append(scores)
            out_held.append(held)
            out_parts.append(scoring.part_readings(all_scores[0], without, face_only, face, rest))
            if attention:
                out_attn.append(out.attention[: len(chunk)].float().mean(2).cpu().numpy())  # mean over heads
        attn = np.concatenate(out_attn).astype(np.float64) if attention else None
        parts = (np.concatenate([p[0] for p in out_parts]), np.concatenate([p[1] for p in out_parts]))
        return np.concatenate(out_scores), attn, np.concatenate(out_held), parts if guard_ran else None


def load_model(path: str | Path | None = None, device: str | torch.device | None = None, transcribe: bool = True,
               limits: Limits = DEFAULT_LIMITS, preload: bool = True, voice_pieces: bool = True,
               **kwargs: object) -> Predictor:
    """Load a checkpoint (default: the shipped one) and the feature extractors, offline.

    Args:
        path: a checkpoint directory (``config.json`` + ``model.safetensors``); default :func:`default_checkpoint`.
        device: ``"cuda"`` / ``"cpu"``; default CUDA when available.
        transcribe: speech to text (False: face and voice only; Whisper still loads, its encoder gives the voice).
        limits: the input caps (:class:`~tailor_core.options.Limits`).
        preload: load every feature model now (a server's start-up); False loads each on its first use, so a run
            that reads only a photo never loads the speech and words models (the CLI).
        voice_pieces: encode a file's voice in pieces cut at its pauses, each alone (a clip of someone talking on
            reads better: docs/robustness.md); False: one pass over the whole file. Live input is not affected.
        **kwargs: passed to :class:`Predictor` (``timeline_steps``, ``batch_size``, ...); ``speech`` is the former
            name of ``transcribe``.
    """
    if "speech" in kwargs:
        transcribe = bool(kwargs.pop("speech"))
    path = Path(path) if path is not None else default_checkpoint()
    dev = pick_device(device)
    model = TAILOR.from_pretrained(path, device=dev)
    cfg = model.config
    dims = {"text": cfg.text_dim, "audio": cfg.audio_dim, "visual": cfg.visual_dim}
    expected = {"text": TEXT_DIM, "audio": AUDIO_DIM, "visual": VISUAL_DIM}
    if dims != expected:
        raise ValueError(f"checkpoint {path} expects feature sizes {dims}, but the extractors give {expected}: "
                         "it was not trained on this project's features")
    extractor = FeatureExtractor(device=dev.type, transcribe=transcribe, limits=limits,
                                 voice_pause_seconds=PAUSE_SECONDS if voice_pieces else 0.0)
    if preload:
        extractor.load()
    return Predictor(model, extractor, device=dev, checkpoint=path, voice_readout=VoiceReadout().load(), **kwargs)


__all__ = ["DEFAULT_CHECKPOINT_NAME", "Prediction", "Predictor", "default_checkpoint", "load_model",
           "pick_device"]
