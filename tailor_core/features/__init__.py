"""From raw media to TAILOR inputs: face, voice and words on one shared time grid, offline.

Quick use::

    from tailor_core.features import FeatureExtractor
    fx = FeatureExtractor().load()
    bundle = fx.clip("talk.mp4")           # video or audio file -> FeatureBundle
    live = fx.stream(window_seconds=6)     # live frames and audio chunks -> FeatureBundle of the last 6 s

Data flows one way: ``media`` decodes; ``visual`` (+ ``face_expression``), ``speech`` (Whisper: its encoder
states are the voice, ``voice_states``, and the same pass gives the words) and ``text`` (+ ``text_emotion``)
compute per-frame, per-20 ms or per-word vectors;
``align`` places them on the grid (:mod:`~tailor_core.features.grid`: 0.5 s steps, one mask per modality) as
a :class:`FeatureBundle`; ``extractor`` (files, stills, text) and ``stream`` (live) drive them.
"""

from __future__ import annotations

from .bundle import FeatureBundle, Word
from .errors import EmptyInputError, FeatureError, MediaDecodeError, TooLongError
from .extractor import FeatureExtractor
from .grid import IMAGE_STEPS, SAMPLE_RATE, STEP_SECONDS
from .stream import StreamExtractor
from .text import TEXT_DIM, spread_evenly
from .visual import VISUAL_DIM
from .voice_states import AUDIO_DIM

__all__ = [
    "AUDIO_DIM",
    "IMAGE_STEPS",
    "SAMPLE_RATE",
    "STEP_SECONDS",
    "TEXT_DIM",
    "VISUAL_DIM",
    "EmptyInputError",
    "FeatureBundle",
    "FeatureError",
    "FeatureExtractor",
    "MediaDecodeError",
    "StreamExtractor",
    "TooLongError",
    "Word",
    "spread_evenly",
]
