"""``FeatureExtractor``: the face, speech/voice and text models (loaded once, lazily) and the file/still/text paths.

It turns a video or audio file, raw audio samples, a still image or typed text into a
:class:`~tailor_core.features.bundle.FeatureBundle` on the shared step grid (:mod:`~tailor_core.features.grid`).
Live input goes through :class:`~tailor_core.features.stream.StreamExtractor`, which is given the same model
objects (``faces``, ``speech``, ``text_encoder``), so a live stream and a file share one set of models.

Every cap of :class:`~tailor_core.options.Limits` is enforced here, where the input is read: file size before opening,
duration while decoding (never trusting the container header), image pixels before decoding, text length before
encoding.

Thread safety: MediaPipe IMAGE mode, Whisper decoding and MiniLM calls are serialised by per-model locks (Whisper
encoder-only passes are queued by CTranslate2 itself); VIDEO-mode face
trackers are created per clip or per stream, so concurrent clips never share tracking state. The extractor owns
its MediaPipe landmarkers: :meth:`FeatureExtractor.close` (or a ``with`` block) closes them.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..options import DEFAULT_LIMITS, Limits, LiveOptions
from ..progress import ProgressFn, report
from .align import assemble
from .audio import resample_to_16k, to_mono_float
from .bundle import FeatureBundle, Word
from .errors import EmptyInputError, FeatureError, TooLongError, display_name
from .face_expression import align_face
from .grid import IMAGE_STEPS, SAMPLE_RATE, STEP_SECONDS, n_steps_for
from .lifetime import Closeable
from .media import VIDEO_FPS, decode_audio, is_image_path, iter_video_frames, read_image
from .speech import UNCLEAR_SPEECH_NOTE, SpeechRecognizer
from .stream import StreamExtractor
from .text import default_text_steps, even_steps, looks_english, spread_evenly
from .text_emotion import EmotionTextEncoder
from .visual import MAX_FACES, Detection, FaceAnalyzer, to_rgb_uint8
from .voice_states import PAUSE_SECONDS, file_states, pool_steps

DAMAGED_SLACK_SECONDS: float = 1.0  # decoded media this much shorter than the header says: the file is damaged
CNN_BATCH: int = 8  # aligned face crops per expression-network call in the clip path

log = logging.getLogger(__name__)


def faces_note(most_faces: int) -> list[str]:
    """The sentence telling a user that several faces were seen and only the largest was read."""
    if most_faces <= 1:
        return []
    many = "Several" if most_faces >= MAX_FACES else str(most_faces)
    return [f"{many} faces were seen; only the largest one was read."]


class FeatureExtractor(Closeable):
    """Loads the face, speech/voice and text models on first use and turns inputs into :class:`FeatureBundle` s.

    The models are public (``faces``: landmarks + expression network, ``speech``: Whisper, for the transcript
    and the voice features, ``text_encoder``: the emotion-tuned MiniLM): the live path and the training-data
    builder use them directly, so training, files and live input share one code path. ``transcribe=False``
    turns speech-to-text off (Whisper's encoder still gives the voice features).
    """

    def __init__(self, device: str = "cpu", transcribe: bool = True, limits: Limits = DEFAULT_LIMITS,
                 voice_pause_seconds: float = PAUSE_SECONDS) -> None:
        self.device = device
        self.limits = limits
        self.transcribe = transcribe
        # a file's voice is encoded in pieces cut at pauses this long (0: one pass over the whole file)
        self.voice_pause_seconds = voice_pause_seconds
        self.faces = FaceAnalyzer()
        self.speech = SpeechRecognizer(device)
        self.text_encoder = EmotionTextEncoder("cuda" if str(device).startswith("cuda") else "cpu")

    def load(self) -> FeatureExtractor:
        """Load every model now (e.g. at app start-up) and compute a voice once (the encoder's first call is
        slow)."""
        self.faces.load()
        self.speech.load()
        self.text_encoder.load()
        self.voice(np.zeros(SAMPLE_RATE, np.float32))
        return self

    def close(self) -> None:
        """Close the MediaPipe landmarkers (the face models load again if used later)."""
        self.faces.close()

    def voice(self, samples16k: np.ndarray) -> np.ndarray:
        """[n_steps_for(len / 16k), AUDIO_DIM] voice features of 16 kHz mono float32 audio: Whisper's encoder
        states (two phases, pieces cut at pauses: ``voice_states.file_states``) averaged per step (files and
        training data compute the same values; live uses a rolling window of one pass)."""
        return _voice_steps(self._file_states(samples16k), len(samples16k))

    def _file_states(self, samples16k: np.ndarray, states: np.ndarray | None = None) -> np.ndarray:
        return file_states(self.speech.model, samples16k, states, self.voice_pause_seconds)

    # ------------------------------------------------------------------ caps
    def _check_file(self, path: Path) -> None:
        if path.is_file() and path.stat().st_size > self.limits.max_file_bytes:
            mb = path.stat().st_size / 2**20
            raise TooLongError(f"{display_name(path)} is {mb:.0f} MB; files up to {self.limits.max_file_mb:.0f} MB are "
                               "analysed. Please trim or compress it.")

    def _check_text(self, text: str) -> None:
        if len(text) > self.limits.max_text_chars:
            raise TooLongError(f"The text is {len(text):,} characters long; up to "
                               f"{self.limits.max_text_chars:,} are analysed. Please shorten it.")

    # ------------------------------------------------------------------ inputs
    def clip(self, path: str | Path, transcribe: bool = True, progress: ProgressFn | None = None) -> FeatureBundle:
        """Features of a video or audio file (an image file is delegated to :meth:`image`).

        Audio and video are decoded up to ``limits.max_seconds`` of decoded media; ``bundle.truncated`` says
        when the file held more. Raises :class:`FeatureError` for empty, corrupt or non-media files.
        """
        path = Path(str(path))
        if is_image_path(path):
            return self.image(path)
        self._check_file(path)
        max_seconds = self.limits.max_seconds
        report(progress, 0.0, "decoding audio")
        header: dict = {}
        audio16k, a_trunc = decode_audio(path, max_seconds, stats=header)

        # The voice features and speech-to-text (the slowest part) run beside face tracking.
        speech: dict = {}
        speech_thread = None
        if audio16k is not None:
            do_words = transcribe and self.transcribe

            def run_speech() -> None:
                try:
                    # without words the whole-clip pass is made by file_states only if the voice is not cut at
                    # its pauses (with words the transcription needs it, and file_states reuses it)
                    heard = self.speech.listen(audio16k) if do_words else None
                    speech["voice"] = _voice_steps(self._file_states(audio16k, heard.states if heard else None),
                                                   len(audio16k))
                    if heard is not None:
                        speech["words"] = heard.words
                        speech["unclear"] = heard.unclear
                        speech["vecs"] = self.text_encoder.encode_words([w[0] for w in heard.words])
                except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                    speech["error"] = e

            speech_thread = threading.Thread(target=run_speech, name="tailor-speech", daemon=False)
            speech_thread.start()

        stats: dict = {}
        tracker = None
        most_faces = 0
        # The expression network reads the aligned crops in a thread of its own, in batches, while the landmarker
        # tracks the next frames (it costs about as much as the landmarker; torch releases the GIL).
        found: list[tuple[float, Detection | None]] = []
        crops: list[np.ndarray] = []
        batches: list[Future] = []
        cnn = ThreadPoolExecutor(1, thread_name_prefix="tailor-face-cnn")
        try:
            expected = max(1.0, max_seconds * VIDEO_FPS)
            for t, rgb in iter_video_frames(path, max_seconds, stats=stats):
                if tracker is None:
                    tracker = self.faces.tracker()
                det = tracker.detect(rgb, t)
                found.append((t, det if det.base is not None else None))
                if det.base is not None:
                    crops.append(align_face(rgb, det.landmarks))
                    if len(crops) == CNN_BATCH:
                        batches.append(cnn.submit(self.faces.expression.crop_features, np.stack(crops)))
                        crops = []
                if len(found) % 10 == 0:
                    report(progress, 0.1 + 0.7 * min(1.0, len(found) / expected), "finding faces")
            if crops:
                batches.append(cnn.submit(self.faces.expression.crop_features, np.stack(crops)))
            expr = [b.result() for b in batches]
        finally:
            cnn.shutdown(wait=True)
            if tracker is not None:
                most_faces = tracker.most_faces
                tracker.close()
        expr_rows = iter(np.concatenate(expr) if expr else [])
        faces = [(t, None if det is None else np.concatenate([det.base, next(expr_rows)])) for t, det in found]
        if speech_thread is not None:
            report(progress, 0.85, "voice and speech to text")
            speech_thread.join()
            if "error" in speech:
                err = speech["error"]
                if isinstance(err, FeatureError):
                    raise err
                raise FeatureError(f"voice analysis or speech-to-text failed on {display_name(path)}: {err}") from err
        a_dur = len(audio16k) / SAMPLE_RATE if audio16k is not None else 0.0
        duration = min(max(a_dur, stats.get("duration", 0.0)), float(max_seconds))
        if duration <= 0:
            raise EmptyInputError(f"{display_name(path)} holds no decodable audio or video (empty or corrupt file)")
        bundle = assemble(
            n_steps_for(duration),
            audio=speech.get("voice"),
            faces=faces,
            words=speech.get("words", []),
            word_vecs=speech.get("vecs"),
            duration=duration,
            source=display_name(path),
            truncated=bool(a_trunc or stats.get("truncated")),
        )
        claimed = header.get("header_duration", 0.0)
        if not bundle.truncated and claimed > duration + DAMAGED_SLACK_SECONDS:
            bundle.notes.append(f"The file seems cut short or damaged: only {duration:.1f} s of the {claimed:.0f} s "
                                "it announces could be read, and only that part was analysed.")
        bundle.notes.extend(faces_note(most_faces))
        if speech.get("unclear"):
            bundle.notes.append(UNCLEAR_SPEECH_NOTE)
        report(progress, 1.0, "done")
        return bundle

    def audio(self, samples: np.ndarray, sample_rate: int, transcribe: bool = True) -> FeatureBundle:
        """Features of raw audio: any rate, [n] / [n, ch] / [ch, n], int16 / int32 / float. Visual is masked.

        Audio beyond ``limits.max_seconds`` is cut (``truncated`` set)."""
        if int(sample_rate) <= 0:
            raise FeatureError(f"invalid sample rate {sample_rate}")
        y = resample_to_16k(to_mono_float(samples), int(sample_rate))
        cap = int(self.limits.max_seconds * SAMPLE_RATE)
        truncated = len(y) > cap
        y = y[:cap]
        if len(y) == 0:
            raise EmptyInputError("the audio is empty (0 samples)")
        states, words, unclear = self.speech.listen(y) if transcribe and self.transcribe else (None, [], False)
        vecs = self.text_encoder.encode_words([w[0] for w in words]) if words else None
        duration = len(y) / SAMPLE_RATE
        voice = _voice_steps(self._file_states(y, states), len(y))  # as in clip(): no words, no whole pass here
        b = assemble(n_steps_for(duration), audio=voice, words=words,
                     word_vecs=vecs, duration=duration, source="audio", truncated=truncated)
        if unclear:
            b.notes.append(UNCLEAR_SPEECH_NOTE)
        return b

    def image(self, image: str | Path | np.ndarray, n_steps: int = IMAGE_STEPS) -> FeatureBundle:
        """A still face shown as ``n_steps`` identical steps. No face -> ``visual_mask`` all False."""
        if n_steps <= 0:
            raise FeatureError("n_steps must be positive")
        source = "image"
        if isinstance(image, (str, Path)):
            source = display_name(image)
            self._check_file(Path(str(image)))
            image = read_image(image, max_pixels=self.limits.max_image_pixels)
        vec, n_faces = self.faces.still_faces(to_rgb_uint8(image))
        b = FeatureBundle.empty(n_steps, STEP_SECONDS, source=source)
        if vec is not None:
            b.visual[:] = vec
            b.visual_mask[:] = True
        b.notes.extend(faces_note(n_faces))
        return b

    def text(self, text: str, n_steps: int | None = None) -> FeatureBundle:
        """Typed text without timestamps: words spread evenly over ``n_steps`` (default ~2.5 words per step)."""
        self._check_text(text)
        words, vecs = self.text_encoder.word_vectors(text)
        n = default_text_steps(len(words)) if n_steps is None else int(n_steps)
        if n <= 0:
            raise FeatureError("n_steps must be positive")
        b = FeatureBundle.empty(n, STEP_SECONDS, source="text")
        if words and not looks_english(text):
            b.notes.append("The text does not look like English; the text model reads English only, so its "
                           "scores may mean little.")
        if words:
            b.text, b.text_mask = spread_evenly(vecs, n)
            steps = even_steps(len(words), n)
            dur = n * STEP_SECONDS
            b.words = [Word(w, i * dur / len(words), (i + 1) * dur / len(words), int(s))
                       for i, (w, s) in enumerate(zip(words, steps, strict=True))]
        return b

    def stream(self, window_seconds: float | None = None, transcribe: bool = True, background: bool = True,
               options: LiveOptions | None = None) -> StreamExtractor:
        """A new :class:`StreamExtractor` over these models (rolling window over live frames and audio, of
        ``window_seconds``, default ``options.window_seconds``); close it when done (``close()`` or a ``with``
        block)."""
        return StreamExtractor(self.faces, self.speech, self.text_encoder, window_seconds=window_seconds,
                               transcribe=transcribe and self.transcribe, background=background,
                               options=options or LiveOptions())


def _voice_steps(states: np.ndarray, n_samples: int) -> np.ndarray:
    """[k, AUDIO_DIM] per-step means of encoder states [n_frames, AUDIO_DIM] that cover ``n_samples`` of audio from
    its start: one row per step of ``n_steps_for(n_samples / 16k)`` that has a frame (the mask is a prefix)."""
    vecs, mask = pool_steps(states, n_steps_for(n_samples / SAMPLE_RATE))
    return vecs[: int(mask.sum())]


__all__ = ["FeatureExtractor"]
