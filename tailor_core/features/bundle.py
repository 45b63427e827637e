"""``FeatureBundle``: the one contract between raw media and the TAILOR model.

A bundle holds RAW (un-normalised) features on the shared step grid (see :mod:`tailor_core.features.grid`):

* ``times``  [T] float32: start time (s) of each step
* ``text``   [T, TEXT_DIM] float32 with ``text_mask`` [T] bool
* ``audio``  [T, AUDIO_DIM] float32 with ``audio_mask`` [T] bool
* ``visual`` [T, VISUAL_DIM] float32 with ``visual_mask`` [T] bool
* ``words``: the transcript, each :class:`Word` with the step it was placed in.

Masked rows are always zero. The model normalises features with statistics stored in its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import MODALITIES
from .grid import STEP_SECONDS
from .text import TEXT_DIM
from .visual import VISUAL_DIM
from .voice_states import AUDIO_DIM

DIMS: dict[str, int] = {"text": TEXT_DIM, "audio": AUDIO_DIM, "visual": VISUAL_DIM}


@dataclass(frozen=True)
class Word:
    """One transcribed or typed word: ``start``/``end`` in seconds, ``step`` = index of its step in the
    bundle."""

    text: str
    start: float
    end: float
    step: int


@dataclass
class FeatureBundle:
    """Features of one input on the shared step grid (see module docstring for shapes)."""

    times: np.ndarray
    text: np.ndarray
    text_mask: np.ndarray
    audio: np.ndarray
    audio_mask: np.ndarray
    visual: np.ndarray
    visual_mask: np.ndarray
    words: list[Word] = field(default_factory=list)
    duration: float = 0.0
    step_seconds: float = STEP_SECONDS
    source: str = ""
    truncated: bool = False  # True when only the first ``max_seconds`` of a longer file were analysed
    notes: list[str] = field(default_factory=list)  # plain sentences about the input a user should know

    def __post_init__(self) -> None:
        n = len(self.times)
        self.times = np.asarray(self.times, dtype=np.float32).reshape(n)
        for name in MODALITIES:
            arr = np.asarray(getattr(self, name), dtype=np.float32).reshape(n, DIMS[name])
            mask = np.asarray(getattr(self, f"{name}_mask"), dtype=bool).reshape(n)
            if (~mask).any() and arr[~mask].any():
                # A copy, never the caller's array: ``dataclasses.replace(b, visual_mask=...)`` shares b's arrays,
                # and zeroing them in place would wipe b's own features.
                arr = arr.copy()
                arr[~mask] = 0.0
            setattr(self, name, arr)
            setattr(self, f"{name}_mask", mask)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def empty(
        cls, n_steps: int, step_seconds: float = STEP_SECONDS, start_step: int = 0, source: str = ""
    ) -> FeatureBundle:
        """All-masked bundle of ``n_steps`` steps starting at step ``start_step``."""
        times = (np.arange(n_steps, dtype=np.float32) + start_step) * np.float32(step_seconds)
        z = {m: np.zeros((n_steps, DIMS[m]), np.float32) for m in MODALITIES}
        zm = {f"{m}_mask": np.zeros(n_steps, bool) for m in MODALITIES}
        return cls(
            times=times,
            **z,
            **zm,
            words=[],
            duration=n_steps * step_seconds,
            step_seconds=step_seconds,
            source=source,
        )

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.times)

    @property
    def transcript(self) -> str:
        """The words joined by spaces."""
        return " ".join(w.text for w in self.words)

    @property
    def has_face(self) -> bool:
        return bool(self.visual_mask.any())

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_mask.any())

    @property
    def has_text(self) -> bool:
        return bool(self.text_mask.any())

    @property
    def valid(self) -> np.ndarray:
        """[T] bool: steps where at least one modality is present."""
        return self.text_mask | self.audio_mask | self.visual_mask

    def window(self, start: int, stop: int) -> FeatureBundle:
        """Steps ``[start, stop)`` as a new bundle; words outside are dropped, kept ones re-indexed."""
        n = len(self)
        start, stop = max(0, int(start)), min(n, int(stop))
        stop = max(stop, start)
        words = [Word(w.text, w.start, w.end, w.step - start) for w in self.words if start <= w.step < stop]
        t0 = start * self.step_seconds
        dur = max(0.0, min(stop * self.step_seconds, max(self.duration, t0)) - t0)
        return FeatureBundle(
            times=self.times[start:stop].copy(),
            text=self.text[start:stop].copy(),
            text_mask=self.text_mask[start:stop].copy(),
            audio=self.audio[start:stop].copy(),
            audio_mask=self.audio_mask[start:stop].copy(),
            visual=self.visual[start:stop].copy(),
            visual_mask=self.visual_mask[start:stop].copy(),
            words=words,
            duration=dur,
            step_seconds=self.step_seconds,
            source=self.source,
            truncated=self.truncated,
            notes=list(self.notes),
        )

    def with_length(self, n: int) -> FeatureBundle:
        """Crop to, or pad (masked, zero) up to, exactly ``n`` steps."""
        cur = len(self)
        if n <= cur:
            return self.window(0, n)
        pad = FeatureBundle.empty(n - cur, self.step_seconds, start_step=0)
        t_last = float(self.times[-1]) + self.step_seconds if cur else 0.0
        times = np.concatenate(
            [self.times, t_last + np.arange(n - cur, dtype=np.float32) * self.step_seconds]
        )
        kw = {}
        for m in MODALITIES:
            kw[m] = np.concatenate([getattr(self, m), getattr(pad, m)])
            kw[f"{m}_mask"] = np.concatenate([getattr(self, f"{m}_mask"), getattr(pad, f"{m}_mask")])
        return FeatureBundle(
            times=times,
            **kw,
            words=[Word(**vars(w)) for w in self.words],
            duration=self.duration,
            step_seconds=self.step_seconds,
            source=self.source,
            truncated=self.truncated,
            notes=list(self.notes),
        )

    @staticmethod
    def merge(*bundles: FeatureBundle) -> FeatureBundle:
        """Combine bundles of the same input seen through different modalities (e.g. a photo + typed text).

        The length is the longest; shorter bundles are padded (masked). For each modality and each step the first
        bundle that has that modality present at that step supplies it. Words come from the bundles that supplied any
        text.
        """
        bundles = tuple(b for b in bundles if b is not None)
        if not bundles:
            raise ValueError("merge() needs at least one bundle")
        step = bundles[0].step_seconds
        if any(abs(b.step_seconds - step) > 1e-9 for b in bundles):
            raise ValueError("cannot merge bundles with different step_seconds")
        n = max(len(b) for b in bundles)
        padded = [b.with_length(n) for b in bundles]
        out = FeatureBundle.empty(n, step)
        base = max(padded, key=lambda b: b.duration)
        out.times = base.times.copy()
        text_sources: list[int] = []
        for m in MODALITIES:
            arr, mask = getattr(out, m), getattr(out, f"{m}_mask")
            for i, b in enumerate(padded):
                take = getattr(b, f"{m}_mask") & ~mask
                if take.any():
                    arr[take] = getattr(b, m)[take]
                    mask |= take
                    if m == "text":
                        text_sources.append(i)
        out.words = sorted(
            (Word(**vars(w)) for i in text_sources for w in padded[i].words), key=lambda w: (w.step, w.start)
        )
        out.duration = max(b.duration for b in bundles)
        out.source = "+".join(b.source for b in bundles if b.source)
        out.truncated = any(b.truncated for b in bundles)
        out.notes = list(dict.fromkeys(n for b in bundles for n in b.notes))
        return out

    def __repr__(self) -> str:
        return (
            f"FeatureBundle(T={len(self)}, duration={self.duration:.2f}s, "
            f"face_steps={int(self.visual_mask.sum())}, "
            f"audio_steps={int(self.audio_mask.sum())}, text_steps={int(self.text_mask.sum())}, "
            f"words={len(self.words)}, source={self.source!r})"
        )
