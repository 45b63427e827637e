"""The shared time grid: constants and helpers used by every modality.

TAILOR fuses three sequences of equal length (its common representation is a sum over modalities), so every
modality is pooled onto ONE time grid of ``STEP_SECONDS`` steps: step ``i`` covers
``[i * STEP_SECONDS, (i + 1) * STEP_SECONDS)`` seconds. Each step holds the mean face features of the video
frames sampled in it, the mean acoustic features of the audio frames centred in it and the mean embedding of
the words whose midpoint falls in it; each modality carries its own boolean mask, so a step with no face, no
audio track or no word is masked rather than zero-filled as if something neutral were there. This works with
no speech, no face, or neither, and makes attention weights readable on a timeline.

Why 0.5 s: a word lasts about 0.3-0.5 s and a facial expression about 0.5-4 s, so half a second keeps about
one word per step and still resolves expression changes. How many steps the model reads at once is the
checkpoint's business (``TailorConfig.text_len``; the demo checkpoint reads 16 steps = 8 s): longer inputs are
cut into windows of that length by :mod:`tailor_core.scoring`.
"""

from __future__ import annotations

import math

STEP_SECONDS: float = 0.5  # one shared time grid for all modalities
IMAGE_STEPS: int = 6  # a still face is shown to the model as a 6-step sequence
SAMPLE_RATE: int = 16_000  # every audio path works on 16 kHz mono float32
MIN_TAIL_FRACTION: float = 0.2  # a trailing partial step shorter than 20% of a step is dropped


def n_steps_for(duration: float, step_seconds: float = STEP_SECONDS) -> int:
    """Number of grid steps covering ``duration`` seconds (a tail shorter than 0.1 s is dropped; min 1)."""
    if duration <= 0:
        return 0
    return max(1, math.ceil(duration / step_seconds - MIN_TAIL_FRACTION))


def step_of(t: float, step_seconds: float = STEP_SECONDS) -> int:
    """Index of the step containing time ``t`` (seconds)."""
    return math.floor(t / step_seconds + 1e-9)
