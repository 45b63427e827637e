"""From the model's window outputs to what a person sees: one :class:`Prediction`. Pure numpy, no torch, no I/O.

Scoring, stated once (the predictor runs the model on the spans these functions choose):

* **Windows**: sliding windows of ``size`` steps (``TIMELINE_STEPS``, 4 s) every ``hop`` steps
  (``TIMELINE_HOP``, 1 s); inputs shorter than two windows use windows of about half their length, hop a third of
  that; windows with no valid step (no modality present) are skipped. Each window is one model pass.
* **Overall scores** (the summary): the mean of those same windows' scores, **weighted by each window's number of
  valid steps**. So the summary is the average of what the timeline shows, never a reading the timeline
  contradicts (a single pass over a whole short clip can read nothing where the timeline's middle windows read a
  clear emotion). Thresholds are tuned on validation for this summary (``training/evaluate.py``).
* **Face guard**: each window is also read without its face and from its face alone (masks; same model). For a
  label the face alone reads under its threshold, the window's score is at most the higher of those two
  readings: the face never raises a label it does not show itself (a mouth moving with speech is not surprise; a
  voice just under a threshold is not pushed over it by a face that shows nothing of it), so it adds no label that
  neither it nor the voice and words read on their own. Labels the face does show fuse as the model reads them.
  Windows with only a face, or no face, are read once. The same rule holds for the summary, against the two
  parts' summaries (the same weighted means): a label can cross a threshold on average while no window's parts
  allow it.
* **Timeline**: one point per window, the model's own output (after the face guard).
* **Smoothing**: timeline points and live updates pass through an exponential moving average with time
  constant ``SMOOTHING_SECONDS`` (weight ``1 - exp(-dt / tau)`` on a new point ``dt`` seconds after the last),
  so a single 0.5 s step cannot switch a label on and off. It starts from 0 ("no emotion") at the start of the
  input, so the first window is damped too. The same function serves clips, the CLI, the API and the live
  view; each :class:`TimelinePoint` keeps its unsmoothed value as ``raw``, and a live update its smoothed scores
  as ``Prediction.smoothed`` beside the window's own ``scores``.
* **Attention**: the decoder's cross-attention of each label over the fused sequence
  ``[text | audio | visual | common]`` (last decoder layer, averaged over heads). ``modality_attention`` is the
  share of each label's attention on each part (sums to 1), averaged over the windows with the same weights as
  the scores; ``attention_maps`` keeps the text/audio/visual parts step by step (label × time), each step the mean
  over the windows that cover it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .config import MODALITIES, PC_PARTS
from .features import FeatureBundle, Word

Span = tuple[int, int]

#: Time constant (s) of the exponential moving average applied to timelines and live scores.
SMOOTHING_SECONDS: float = 1.5
#: Window length and hop, in 0.5 s steps, of the windows the summary and the timeline are made of.
TIMELINE_STEPS: int = 8
TIMELINE_HOP: int = 2


@dataclass(frozen=True)
class TimelinePoint:
    """One window of the timeline: ``start``/``end`` in seconds, ``scores`` as shown (smoothed, label -> value)
    and ``raw``, the model's own output for the window."""

    start: float
    end: float
    scores: dict[str, float]
    raw: dict[str, float]

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)


@dataclass(frozen=True)
class Prediction:
    """Everything the app, the CLI and the API show about one input (build a changed copy with
    ``dataclasses.replace``).

    ``scores``/``thresholds``: label -> value; ``labels``: the labels at or over their threshold (of
    :attr:`shown_scores`); ``timeline``: one :class:`TimelinePoint` per window; ``words``: the transcript or typed
    words, each with its grid step; ``face_steps``/``step_times``: per grid step; ``modality_attention``: label ->
    part -> share; ``attention_maps``: modality -> [labels][steps]; ``present``: modality -> seen anywhere;
    ``notes``: plain sentences about the input a user should know (cut at the length cap, ...); ``readouts``:
    modality -> class -> what that encoder alone reads (:mod:`tailor_core.readouts`; live: of the last window,
    unsmoothed); ``smoothed``: a live update's scores after the moving average (None for a file).
    """

    scores: dict[str, float]
    labels: list[str]
    thresholds: dict[str, float]
    timeline: list[TimelinePoint] = field(default_factory=list)
    transcript: str = ""
    words: list[Word] = field(default_factory=list)
    face_steps: list[bool] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)
    modality_attention: dict[str, dict[str, float]] = field(default_factory=dict)
    attention_maps: dict[str, list[list[float]]] = field(default_factory=dict)
    present: dict[str, bool] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0
    source: str = ""
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    readouts: dict[str, dict[str, float]] = field(default_factory=dict)
    smoothed: dict[str, float] | None = None

    @property
    def shown_scores(self) -> dict[str, float]:
        """The scores a person is shown and ``labels`` are decided on: ``smoothed`` where there are, else
        ``scores``."""
        return self.scores if self.smoothed is None else self.smoothed

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (floats rounded to 6 digits, non-finite values as None); ``smoothed`` only when set."""
        out = _jsonable(asdict(self))
        if self.smoothed is None:
            del out["smoothed"]
        return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def decide(scores: dict[str, float], thresholds: dict[str, float]) -> list[str]:
    """The labels whose score reaches their threshold, in label order."""
    return [k for k, v in scores.items() if v >= thresholds[k]]


def face_guard(fused: np.ndarray, without_face: np.ndarray, face_only: np.ndarray, thresholds: np.ndarray,
               guarded: np.ndarray | bool) -> tuple[np.ndarray, np.ndarray]:
    """Keep the face from raising a label it does not show (see the module docstring).

    Where the face alone reads a label under its threshold, the label's score is at most the higher of the two
    part readings; labels the face does show, and windows without both a face and something else, keep ``fused``.

    Args:
        fused, without_face, face_only: [W, N] scores of each window read whole, with the face masked, and from
            the face alone (or [N]: one summary of each).
        thresholds: [N] per-label thresholds.
        guarded: [W] bool (or one bool): where the rule applies, the windows with a face *and* something else.

    Returns:
        scores shaped like ``fused``, and held, bool, where the rule took a label from at or over its threshold to
        under it (a label the face would have added).
    """
    g = np.asarray(guarded, bool)
    g = g[..., None] if g.ndim else g
    capped = np.minimum(fused, np.maximum(without_face, face_only))
    scores = np.where(g & (face_only < thresholds), capped, fused)
    return scores, (fused >= thresholds) & (scores < thresholds)


def part_readings(fused: np.ndarray, without_face: np.ndarray, face_only: np.ndarray, has_face: np.ndarray,
                  has_rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two part readings [W, N] of every window, for summing into a summary: a window with no face is all
    "without the face" (its face part reads nothing, 0); a face alone is all "face"."""
    f, r = np.asarray(has_face, bool)[:, None], np.asarray(has_rest, bool)[:, None]
    without = np.where(f & r, without_face, np.where(r, fused, 0.0))
    face = np.where(f & r, face_only, np.where(f, fused, 0.0))
    return without, face


def timeline_spans(valid: np.ndarray, size: int = TIMELINE_STEPS, hop: int = TIMELINE_HOP) -> list[Span]:
    """The windows ``[a, b)`` the summary and the timeline are made of, over ``valid`` [T] bool (steps with any
    modality); windows with no valid step are skipped.

    Inputs shorter than two windows use windows of about half their length, hop a third of that."""
    n = len(valid)
    if n == 0:
        return []
    if n < 2 * size:
        size = max(1, min(n, max(2, n // 2)))
        hop = max(1, size // 3)
    spans = [(a, a + size) for a in range(0, max(1, n - size + 1), hop)]
    if spans[-1][1] < n:
        spans.append((n - size, n))
    return [(a, b) for a, b in spans if valid[a:b].any()]


def window_weights(valid: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    """Weights [W] (summing to 1) of windows ``spans`` over ``valid`` [T] bool: each window's share of valid steps
    (equal weights if none has any)."""
    counts = np.array([valid[a:b].sum() for a, b in spans], dtype=np.float64)
    return counts / counts.sum() if counts.sum() > 0 else np.full(len(spans), 1.0 / max(len(spans), 1))


def combine(bundle: FeatureBundle, spans: Sequence[Span], scores: np.ndarray, attention: np.ndarray,
            slices: dict[str, slice]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Overall scores, attention shares and attention maps from per-window model outputs.

    Args:
        bundle: the input (its masks weight the windows).
        spans: the windows, ``[a, b)`` steps (they may overlap).
        scores: [W, N] per-window label scores.
        attention: [W, N, L_pc] head-averaged decoder attention, padded to the longest window.
        slices: which positions of the fused sequence belong to each part (``TAILOR.modality_slices``).

    Returns:
        overall [N], share [N, 4] (parts in ``PC_PARTS`` order, rows sum to 1), maps {modality: [N, T]}.
    """
    weights = window_weights(bundle.valid, spans)
    overall = (weights[:, None] * scores).sum(0)
    n_labels = scores.shape[1]
    share = np.zeros((n_labels, len(PC_PARTS)))
    maps = {m: np.zeros((n_labels, len(bundle))) for m in MODALITIES}
    covered = np.zeros(len(bundle))
    for w, (a, b) in enumerate(spans):
        att = attention[w]  # [N, L_pc]; padded positions were masked, so they hold 0
        total = att.sum(-1, keepdims=True)
        total[total <= 0] = 1.0
        share += weights[w] * np.stack([att[:, slices[p]].sum(-1) for p in PC_PARTS], -1) / total
        for m in MODALITIES:
            maps[m][:, a:b] += att[:, slices[m]][:, : b - a]
        covered[a:b] += 1
    for m in MODALITIES:  # overlapping windows: each step shows the mean of the windows that cover it
        maps[m] /= np.maximum(covered, 1.0)
    share /= np.clip(share.sum(-1, keepdims=True), 1e-12, None)
    return overall, share, maps


def timeline_points(bundle: FeatureBundle, spans: Sequence[Span], scores: np.ndarray,
                    labels: Sequence[str]) -> list[TimelinePoint]:
    """Unsmoothed timeline points (``scores`` = ``raw``, times in seconds) from per-window scores [W, N]."""
    step = float(bundle.step_seconds)
    t0 = float(bundle.times[0]) if len(bundle) else 0.0
    points = []
    for (a, b), row in zip(spans, scores, strict=True):
        values = {k: float(v) for k, v in zip(labels, row, strict=True)}
        points.append(TimelinePoint(t0 + a * step, t0 + b * step, values, values))
    return points


def ema(previous: dict[str, float] | None, current: dict[str, float], dt: float,
        tau: float = SMOOTHING_SECONDS) -> dict[str, float]:
    """One step of the exponential moving average: ``previous`` moved towards ``current`` by ``1 - e^(-dt/tau)``.

    ``previous=None`` (the first point) starts from 0 for every label, i.e. from "no emotion", with ``dt`` the
    seconds of input behind that point: a first window is damped like any later one, so a reading of the first
    second alone (often onset noise, a face before the voice) cannot switch a label on by itself."""
    if tau <= 0:
        return dict(current)
    if previous is None:
        previous = dict.fromkeys(current, 0.0)
    w = 1.0 - math.exp(-max(dt, 0.0) / tau)
    return {k: previous[k] + w * (v - previous[k]) for k, v in current.items()}


def smooth_timeline(points: Sequence[TimelinePoint], tau: float = SMOOTHING_SECONDS) -> list[TimelinePoint]:
    """Timeline points (in time order) with ``scores`` the model's ``raw`` values smoothed by :func:`ema` over
    their centre times (starting from 0 at the first point's start)."""
    out, state = [], None
    last = float(points[0].start) if points else 0.0
    for p in points:
        state = ema(state, p.raw, p.centre - last, tau)
        last = p.centre
        out.append(replace(p, scores=state))
    return out


def build_prediction(bundle: FeatureBundle, labels: Sequence[str], thresholds: dict[str, float],
                     overall: np.ndarray, share: np.ndarray, maps: dict[str, np.ndarray],
                     timeline: list[TimelinePoint], notes: Sequence[str] = ()) -> Prediction:
    """Assemble the :class:`Prediction` of ``bundle`` from :func:`combine`'s outputs."""
    scores = {k: float(v) for k, v in zip(labels, overall, strict=True)}
    return Prediction(
        scores=scores,
        labels=decide(scores, thresholds),
        thresholds=dict(thresholds),
        timeline=timeline,
        transcript=bundle.transcript,
        words=[Word(w.text, float(w.start), float(w.end), int(w.step)) for w in bundle.words],
        face_steps=[bool(v) for v in bundle.visual_mask],
        step_times=[float(t) for t in bundle.times],
        modality_attention={k: {p: float(share[i, j]) for j, p in enumerate(PC_PARTS)}
                            for i, k in enumerate(labels)},
        attention_maps={m: maps[m].tolist() for m in MODALITIES},
        present={m: bool(getattr(bundle, f"{m}_mask").any()) for m in MODALITIES},
        duration=float(bundle.duration or len(bundle) * bundle.step_seconds),
        source=str(bundle.source or ""),
        truncated=bool(bundle.truncated),
        notes=list(notes),
    )


__all__ = ["SMOOTHING_SECONDS", "TIMELINE_HOP", "TIMELINE_STEPS", "Prediction", "TimelinePoint", "Word",
           "build_prediction", "combine", "decide", "ema", "face_guard", "part_readings", "smooth_timeline",
           "timeline_points", "timeline_spans", "window_weights"]
