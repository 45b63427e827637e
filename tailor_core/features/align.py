"""Placing observations on the shared step grid: face vectors, timed words and per-step audio features.

Used by both the file path (:class:`~tailor_core.features.extractor.FeatureExtractor`) and the live path
(:class:`~tailor_core.features.stream.StreamExtractor`), so a clip and the same clip streamed give the same grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bundle import FeatureBundle, Word
from .grid import STEP_SECONDS, step_of
from .text import TEXT_DIM
from .visual import VISUAL_DIM


def pool_faces(
    observations: Sequence[tuple[float, np.ndarray | None]], n_steps: int, first_step: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean face vector per step of ``(t, vec | None)`` observations -> ([n_steps, VISUAL_DIM], mask
    [n_steps])."""
    out = np.zeros((n_steps, VISUAL_DIM), np.float32)
    counts = np.zeros(n_steps, np.int64)
    for t, vec in observations:
        if vec is None:
            continue
        s = step_of(t) - first_step
        if 0 <= s < n_steps:
            out[s] += vec
            counts[s] += 1
    mask = counts > 0
    out[mask] /= counts[mask, None]
    return out, mask


def place_words(
    words: Sequence[tuple[str, float, float]], vectors: np.ndarray, n_steps: int, first_step: int = 0
) -> tuple[list[Word], np.ndarray, np.ndarray]:
    """Put timed words in the step holding their midpoint -> (Words, text [n_steps, TEXT_DIM], mask
    [n_steps]).

    Times are absolute; steps are relative to ``first_step``. Words before the grid are dropped, words after it (e.g.
    in a dropped <0.1 s tail) go to the last step.
    """
    out = np.zeros((n_steps, TEXT_DIM), np.float32)
    counts = np.zeros(n_steps, np.int64)
    placed: list[Word] = []
    for (text, start, end), vec in zip(words, vectors, strict=True):
        s = step_of(0.5 * (start + end)) - first_step
        if s < 0 or n_steps == 0:
            continue
        s = min(s, n_steps - 1)
        out[s] += vec
        counts[s] += 1
        placed.append(Word(text, float(start), float(end), int(s)))
    mask = counts > 0
    out[mask] /= counts[mask, None]
    return placed, out, mask


def assemble(
    n_steps: int,
    *,
    first_step: int = 0,
    audio: np.ndarray | None = None,
    faces: Sequence[tuple[float, np.ndarray | None]] = (),
    words: Sequence[tuple[str, float, float]] = (),
    word_vecs: np.ndarray | None = None,
    duration: float = 0.0,
    source: str = "",
    truncated: bool = False,
) -> FeatureBundle:
    """Build a bundle of ``n_steps`` steps from step ``first_step`` on.

    ``audio``: [n_a, AUDIO_DIM] step features for steps ``first_step ..`` (rows beyond ``n_steps`` ignored,
    missing rows masked); ``faces``: ``(t, vec | None)`` observations; ``words`` with their [n_words, TEXT_DIM]
    vectors.
    """
    b = FeatureBundle.empty(n_steps, STEP_SECONDS, start_step=first_step, source=source)
    if audio is not None and len(audio):
        k = min(len(audio), n_steps)
        b.audio[:k] = audio[:k]
        b.audio_mask[:k] = True
    b.visual, b.visual_mask = pool_faces(faces, n_steps, first_step)
    if words:
        vecs = word_vecs if word_vecs is not None else np.zeros((len(words), TEXT_DIM), np.float32)
        b.words, b.text, b.text_mask = place_words(words, vecs, n_steps, first_step)
    b.duration = float(duration)
    b.truncated = truncated
    return b


__all__ = ["assemble", "place_words", "pool_faces"]
