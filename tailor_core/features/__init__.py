"""From raw media to TAILOR inputs: face, voice and words on one shared time grid, offline.

Quick use::

    from tailor_core.features import FeatureExtractor
    fx = FeatureExtractor()
    bundle = fx.clip("talk.mp4")           # video or audio file -> FeatureBundle
    for w in bundle.windows():             # 60-step (30 s) windows for scoring
        ...

See :mod:`tailor_core.features.grid` for the alignment (0.5 s steps, one mask per modality), and
:mod:`~tailor_core.features.visual`, :mod:`~tailor_core.features.audio`, :mod:`~tailor_core.features.speech`,
:mod:`~tailor_core.features.text` for what each feature vector holds.
"""

from __future__ import annotations

from .audio import AUDIO_DIM
from .bundle import FeatureBundle, Word
from .errors import EmptyInputError, FeatureError, MediaDecodeError, TooLongError
from .extractor import FeatureExtractor, default_extractor, extract_clip
from .grid import IMAGE_STEPS, SAMPLE_RATE, STEP_SECONDS, WINDOW_STEPS
from .stream import StreamExtractor
from .text import TEXT_DIM, spread_evenly
from .visual import VISUAL_DIM

__all__ = [
    "AUDIO_DIM",
    "IMAGE_STEPS",
    "SAMPLE_RATE",
    "STEP_SECONDS",
    "TEXT_DIM",
    "VISUAL_DIM",
    "WINDOW_STEPS",
    "EmptyInputError",
    "FeatureBundle",
    "FeatureError",
    "FeatureExtractor",
    "MediaDecodeError",
    "StreamExtractor",
    "TooLongError",
    "Word",
    "default_extractor",
    "extract_clip",
    "spread_evenly",
]
