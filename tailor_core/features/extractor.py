"""``FeatureExtractor``: one object holding the (lazily loaded) models, shared by all sessions of the app.

It turns a video/audio file, raw audio samples, a still image or typed text into a :class:`FeatureBundle` on
the
shared step grid (see :mod:`tailor_core.features.grid`), and makes :class:`StreamExtractor` objects for live
webcam + microphone input. The lower-level pieces (``face_vector``, ``acoustic``, ``word_vectors``,
``transcribe``) are what the training-data preparer uses, so training and the app share one code path.

Thread safety: MediaPipe IMAGE mode, Whisper and MiniLM calls are serialised by per-model locks; VIDEO-mode
face
trackers are created per clip / per stream, so concurrent clips never share tracking state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .audio import AUDIO_DIM, acoustic_features, resample_to_16k, to_mono_float
from .bundle import FeatureBundle, Word
from .errors import EmptyInputError, FeatureError
from .grid import IMAGE_STEPS, SAMPLE_RATE, STEP_SECONDS, n_steps_for, step_of
from .media import VIDEO_FPS, decode_audio, is_image_path, iter_video_frames, probe, read_image
from .speech import SpeechRecognizer
from .text import TEXT_DIM, TextEncoder, default_text_steps, even_steps, spread_evenly
from .visual import VISUAL_DIM, FaceAnalyzer, to_rgb_uint8

DEFAULT_MAX_SECONDS: float = 600.0

log = logging.getLogger(__name__)

Progress = Callable[..., object] | None


def _report(progress: Progress, frac: float, desc: str) -> None:
    if progress is None:
        return
    try:
        progress(float(frac), desc=desc)
    except Exception as e:  # noqa: BLE001 - a broken progress callback must not break extraction
        log.debug("progress callback failed: %s", e)


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

    Times are absolute; steps are relative to ``first_step``. Words before the grid are dropped, words after
    it
    (e.g. in a dropped <0.1 s tail) go to the last step.
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
    missing
    rows masked); ``faces``: ``(t, vec | None)`` observations; ``words`` with their [n_words, TEXT_DIM]
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


class FeatureExtractor:
    """Loads the face, speech and text models on first use and turns inputs into :class:`FeatureBundle` s."""

    def __init__(self, device: str = "cpu", speech: bool = True) -> None:
        self.device = device
        self.speech_enabled = speech
        self._faces = FaceAnalyzer()
        self._speech = SpeechRecognizer(device) if speech else None
        self._text = TextEncoder("cuda" if str(device).startswith("cuda") else "cpu")

    # ------------------------------------------------------------------ models
    def load(self) -> FeatureExtractor:
        """Load every model now (e.g. at app start-up) and warm up librosa's JIT code."""
        self._faces.load()
        if self._speech is not None:
            self._speech.load()
        self._text.load()
        acoustic_features(np.zeros(SAMPLE_RATE, np.float32))
        return self

    # ------------------------------------------------------------------ low-level pieces
    def face_vector(self, rgb_or_gray: np.ndarray) -> np.ndarray | None:
        """[VISUAL_DIM] float32 features of the largest face in one still (any size; gray ok), ``None`` if
        none."""
        return self._faces.still(rgb_or_gray)

    def acoustic(self, samples16k_float32: np.ndarray) -> np.ndarray:
        """[n_steps, AUDIO_DIM] float32 acoustic features of 16 kHz mono audio, pooled on the step grid."""
        return acoustic_features(samples16k_float32)

    def word_vectors(self, text: str) -> tuple[list[str], np.ndarray]:
        """Whitespace-split words of ``text`` and their contextual [n_words, TEXT_DIM] MiniLM vectors."""
        return self._text.word_vectors(text)

    def encode_words(self, words: list[str]) -> np.ndarray:
        """[len(words), TEXT_DIM] contextual vectors of already-split words."""
        return self._text.encode_words(words)

    def transcribe(self, samples16k_float32: np.ndarray) -> list[Word]:
        """Timed words of 16 kHz mono audio (``step`` = step of the word's midpoint); [] for silence."""
        if self._speech is None:
            return []
        return [Word(t, s, e, step_of(0.5 * (s + e))) for t, s, e in self._speech(samples16k_float32)]

    # ------------------------------------------------------------------ inputs
    def clip(
        self,
        path: str | Path,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        transcribe: bool = True,
        progress: Progress = None,
    ) -> FeatureBundle:
        """Features of a video or audio file (or an image file, delegated to :meth:`image`).

        Only the first ``max_seconds`` are analysed; the bundle's ``truncated`` flag says when the file was
        longer.
        Raises :class:`FeatureError` for empty, corrupt, truncated-beyond-repair or non-media files.
        """
        path = Path(str(path))
        if is_image_path(path):
            return self.image(path)
        if max_seconds <= 0:
            raise FeatureError("max_seconds must be positive")
        info = probe(path)
        if not info.has_audio and not info.has_video:
            raise EmptyInputError(f"{path.name} has neither an audio nor a video stream")
        _report(progress, 0.0, "decoding audio")
        audio16k, a_trunc = decode_audio(path, max_seconds) if info.has_audio else (None, False)

        speech_result: dict = {}
        speech_thread = None
        if transcribe and self._speech is not None and audio16k is not None:

            def run_speech() -> None:
                try:
                    words = self._speech(audio16k)
                    speech_result["words"] = words
                    speech_result["vecs"] = self._text.encode_words([w[0] for w in words])
                except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                    speech_result["error"] = e

            speech_thread = threading.Thread(target=run_speech, name="tailor-speech", daemon=False)
            speech_thread.start()

        faces: list[tuple[float, np.ndarray | None]] = []
        stats: dict = {}
        if info.has_video:
            tracker = self._faces.tracker()
            try:
                expected = max(1.0, min(max_seconds, info.duration or max_seconds) * VIDEO_FPS)
                for t, rgb in iter_video_frames(path, max_seconds, stats=stats):
                    faces.append((t, tracker(rgb, t)))
                    if len(faces) % 10 == 0:
                        _report(progress, 0.1 + 0.7 * min(1.0, len(faces) / expected), "finding faces")
            finally:
                tracker.close()
        _report(progress, 0.8, "acoustic features")
        audio_feats = acoustic_features(audio16k) if audio16k is not None else None
        if speech_thread is not None:
            _report(progress, 0.85, "speech to text")
            speech_thread.join()
            if "error" in speech_result:
                err = speech_result["error"]
                if isinstance(err, FeatureError):
                    raise err
                raise FeatureError(f"speech-to-text failed on {path.name}: {err}") from err
        a_dur = len(audio16k) / SAMPLE_RATE if audio16k is not None else 0.0
        duration = min(max(a_dur, stats.get("duration", 0.0)), float(max_seconds))
        if duration <= 0:
            raise EmptyInputError(f"{path.name} holds no decodable audio or video (empty or corrupt file)")
        n = n_steps_for(duration)
        bundle = assemble(
            n,
            audio=audio_feats,
            faces=faces,
            words=speech_result.get("words", []),
            word_vecs=speech_result.get("vecs"),
            duration=duration,
            source=path.name,
            truncated=bool(a_trunc or stats.get("truncated")),
        )
        if bundle.truncated:
            log.info(
                "%s is longer than %.0f s: only the first %.0f s were analysed",
                path.name,
                max_seconds,
                max_seconds,
            )
        _report(progress, 1.0, "done")
        return bundle

    def audio(
        self, samples: np.ndarray, sample_rate: int, transcribe: bool = True, max_seconds: float | None = None
    ) -> FeatureBundle:
        """Features of raw audio: any rate, [n] / [n, ch] / [ch, n], int16 / int32 / float. Visual is
        masked."""
        y = resample_to_16k(to_mono_float(samples), int(sample_rate))
        truncated = False
        if max_seconds is not None and len(y) > max_seconds * SAMPLE_RATE:
            y, truncated = y[: int(max_seconds * SAMPLE_RATE)], True
        if len(y) == 0:
            raise EmptyInputError("the audio is empty (0 samples)")
        words, vecs = [], None
        if transcribe and self._speech is not None:
            words = self._speech(y)
            vecs = self._text.encode_words([w[0] for w in words])
        duration = len(y) / SAMPLE_RATE
        return assemble(
            n_steps_for(duration),
            audio=acoustic_features(y),
            words=words,
            word_vecs=vecs,
            duration=duration,
            source="audio",
            truncated=truncated,
        )

    def image(self, image: str | Path | np.ndarray, n_steps: int = IMAGE_STEPS) -> FeatureBundle:
        """A still face shown as ``n_steps`` identical steps. No face -> ``visual_mask`` all False (caller
        decides)."""
        if n_steps <= 0:
            raise FeatureError("n_steps must be positive")
        source = "image"
        if isinstance(image, (str, Path)):
            source = Path(str(image)).name
            image = read_image(image)
        vec = self._faces.still(to_rgb_uint8(image))
        b = FeatureBundle.empty(n_steps, STEP_SECONDS, source=source)
        if vec is not None:
            b.visual[:] = vec
            b.visual_mask[:] = True
        return b

    def text(self, text: str, n_steps: int | None = None) -> FeatureBundle:
        """Typed text without timestamps: words spread evenly over ``n_steps`` (default ~2.5 words per
        step)."""
        words, vecs = self.word_vectors(text)
        n = default_text_steps(len(words)) if n_steps is None else int(n_steps)
        if n <= 0:
            raise FeatureError("n_steps must be positive")
        b = FeatureBundle.empty(n, STEP_SECONDS, source="text")
        if words:
            b.text, b.text_mask = spread_evenly(vecs, n)
            steps = even_steps(len(words), n)
            dur = n * STEP_SECONDS
            b.words = [
                Word(w, i * dur / len(words), (i + 1) * dur / len(words), int(s))
                for i, (w, s) in enumerate(zip(words, steps, strict=True))
            ]
        return b

    def stream(self, window_seconds: float = 6.0, transcribe: bool = True, background: bool = True):
        """A new :class:`StreamExtractor` (rolling window over live frames and audio chunks)."""
        from .stream import StreamExtractor

        return StreamExtractor(
            self, window_seconds=window_seconds, transcribe=transcribe, background=background
        )


_DEFAULT: FeatureExtractor | None = None
_DEFAULT_LOCK = threading.Lock()


def default_extractor() -> FeatureExtractor:
    """The process-wide shared extractor (created on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = FeatureExtractor()
        return _DEFAULT


def extract_clip(path: str | Path, **kw) -> FeatureBundle:
    """``default_extractor().clip(path, **kw)``."""
    return default_extractor().clip(path, **kw)


__all__ = [
    "AUDIO_DIM",
    "TEXT_DIM",
    "VISUAL_DIM",
    "FeatureExtractor",
    "assemble",
    "default_extractor",
    "extract_clip",
    "place_words",
    "pool_faces",
]
