"""Voice features from Whisper tiny.en's encoder (the model the app already loads for speech to text).

The encoder turns 16 kHz audio into 384-d states every 20 ms (``HOP_SECONDS``), i.e. 25 states per 0.5 s
grid step. Pooled over a clip they separate emotions well (see README "Encoders"), far better than the librosa
set in ``audio.py``. Per step we keep the mean of the states whose 20 ms frame is centred in the step
(``AUDIO_DIM = 384``).

Whisper's 30 s window: audio is encoded in chunks of ``PAD_SECONDS`` (30 s), each chunk's log-mel zero-padded
to that length exactly as faster-whisper's ``transcribe`` pads it (Whisper was trained on such windows; shorter
padding is cheaper but measurably weaker, see README "Encoders"); only the states of real audio are kept.

Live use (``stream.py``): each update encodes only the steps not yet final, with up to ``LIVE_CONTEXT_SECONDS``
of audio before them as context, in one pass padded to ``LIVE_PAD_SECONDS`` (20 s: a 30 s pass per update costs
too much, a 10 s one reads a voice measurably worse than the 30 s windows TAILOR is trained on); completed steps
are cached and never re-encoded.

The same ``WhisperModel`` serves transcript and features (no second model in memory), and for a clip of up to
30 s one encoder pass serves both: :func:`share_encoder_pass` (installed by ``SpeechRecognizer.load``) lets
``transcribe`` reuse the states computed here for the very same log-mel window (``speech.py`` transcribes the
whole window, not a VAD cut, for that reason). Longer clips cost extra passes (transcription's windows start
where its last segment ended).
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from .grid import SAMPLE_RATE, STEP_SECONDS, n_steps_for

AUDIO_DIM: int = 384  # Whisper tiny.en d_model: the audio features on the grid
HOP_SECONDS: float = 0.02  # one encoder state per 20 ms (mel hop 10 ms, conv stride 2)
FRAMES_PER_STEP: int = round(STEP_SECONDS / HOP_SECONDS)  # 25
FRAME_SAMPLES: int = round(HOP_SECONDS * SAMPLE_RATE)  # 320
WINDOW_SECONDS: float = 30.0  # Whisper's fixed input window
MEL_FRAMES_PER_SECOND: int = 100  # Whisper's log-mel hop is 10 ms
WINDOW_FRAMES: int = round(WINDOW_SECONDS * MEL_FRAMES_PER_SECOND)  # 3000
# Audio is encoded in chunks of PAD_SECONDS, each chunk's log-mel zero-padded to PAD_SECONDS as Whisper pads
# to its 30 s window; 0 = no padding (30 s chunks). RAVDESS probe (README "Encoders"), 0.5 s step vectors:
# 30 s acc/macro-F1 0.681/0.665, 10 s 0.650/0.639, unpadded 0.642/0.628; the 30 s pass is shared with
# speech-to-text, so it costs nothing extra in the app.
PAD_SECONDS: float = 30.0
LIVE_CONTEXT_SECONDS: float = 6.0  # live: audio before the first new step encoded with it, as context
# live: log-mel padding of that context. Longer windows read a voice better and cost more per update (TAILOR's
# voice alone, RAVDESS validation actors 6-7 / test actors 1-4, and one pass on 2 threads: 10 s 0.708 / 0.754,
# 0.06 s; 20 s 0.783 / 0.779, 0.14 s; 30 s 0.817 / 0.796, 0.27 s; README "Encoders"): 20 s keeps an update well
# inside its 0.5 s budget
LIVE_PAD_SECONDS: float = 20.0
MIN_SAMPLES: int = FRAME_SAMPLES  # shorter audio gives no encoder frame


def _encode_chunk(model, y: np.ndarray, pad_seconds: float) -> np.ndarray:
    """[n_frames, AUDIO_DIM] float32 states of one chunk (<= 30 s) of 16 kHz audio; n_frames = ceil(len/320)."""
    from faster_whisper.audio import pad_or_trim

    n_frames = int(np.ceil(len(y) / FRAME_SAMPLES))
    feats = model.feature_extractor(y)  # [80, len/160 + 1] log-mel
    if pad_seconds >= WINDOW_SECONDS:
        # exactly the window faster-whisper's transcribe encodes (it drops the last mel frame, then pads), so
        # share_encoder_pass can hand it these states
        feats = feats[:, : feats.shape[1] - 1]
    if pad_seconds > 0:
        feats = pad_or_trim(feats, round(MEL_FRAMES_PER_SECOND * pad_seconds))
    else:
        feats = feats[:, : 2 * n_frames]
    out = np.asarray(model.encode(feats), dtype=np.float32)[0]  # [pad frames or n_frames, 384]
    return out[:n_frames]


def encoder_states(model, samples16k: np.ndarray, pad_seconds: float | None = None) -> np.ndarray:
    """Whisper encoder states [ceil(len/320), AUDIO_DIM] float32 of 16 kHz mono audio of any length.

    ``model`` is a loaded ``faster_whisper.WhisperModel``. The audio is encoded in consecutive chunks of
    ``pad_seconds`` (default ``PAD_SECONDS``; 0: unpadded 30 s chunks), each padded to that length; states of
    padding are dropped, so frame ``i`` always covers [20i, 20i + 20) ms.
    """
    pad = PAD_SECONDS if pad_seconds is None else float(pad_seconds)
    if not 0 <= pad <= WINDOW_SECONDS:
        raise ValueError(f"pad_seconds must be in [0, {WINDOW_SECONDS}], got {pad}")
    y = np.ascontiguousarray(np.asarray(samples16k, dtype=np.float32).reshape(-1))
    if len(y) < MIN_SAMPLES:
        return np.zeros((0, AUDIO_DIM), np.float32)
    chunk = int((pad or WINDOW_SECONDS) * SAMPLE_RATE)
    parts = [_encode_chunk(model, y[i : i + chunk], pad) for i in range(0, len(y), chunk) if len(y) - i >= MIN_SAMPLES]
    return np.concatenate(parts) if parts else np.zeros((0, AUDIO_DIM), np.float32)


def pool_steps(states: np.ndarray, n_steps: int, first_frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the states of each 0.5 s step -> (vectors [n_steps, AUDIO_DIM], mask [n_steps] bool).

    ``states`` [n_frames, D], frame ``j`` being global frame ``first_frame + j`` (centre (j + 0.5) * 20 ms);
    a step with no frame is masked.
    """
    s = np.asarray(states, dtype=np.float32)
    d = s.shape[1] if s.ndim == 2 else AUDIO_DIM
    out = np.zeros((n_steps, d), np.float32)
    if n_steps <= 0 or len(s) == 0:
        return out, np.zeros(max(n_steps, 0), bool)
    step = (np.arange(len(s)) + first_frame) // FRAMES_PER_STEP
    keep = (step >= 0) & (step < n_steps)
    counts = np.bincount(step[keep], minlength=n_steps).astype(np.float32)
    np.add.at(out, step[keep], s[keep])
    mask = counts > 0
    out[mask] /= counts[mask, None]
    return out, mask


def clip_voice_features(model, samples16k: np.ndarray, n_steps: int | None = None,
                        pad_seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-step voice features of a whole clip -> ([n_steps, AUDIO_DIM], mask [n_steps]).

    ``n_steps`` defaults to the grid's ``n_steps_for(duration)``; ``pad_seconds`` is :func:`encoder_states`'s
    (default: a file's 30 s window; training code passes ``LIVE_PAD_SECONDS`` to see what a live update sees).
    """
    y = np.asarray(samples16k, dtype=np.float32).reshape(-1)
    if n_steps is None:
        n_steps = n_steps_for(len(y) / SAMPLE_RATE)
    return pool_steps(encoder_states(model, y, pad_seconds), n_steps)


def share_encoder_pass(model) -> None:
    """Let ``model.transcribe`` reuse encoder outputs computed by :func:`encoder_states` (same mel window).

    Wraps ``model.encode`` with a one-entry cache keyed by a hash of the mel features. Only full 30 s windows
    (the only ones transcription encodes) are kept, and an entry is handed out once: the feature path encodes,
    transcription of the same audio takes the states, and nothing of a visitor's audio stays cached after
    (``SpeechRecognizer`` also calls :func:`clear_shared_pass` when it is done). Idempotent; thread-safe.
    """
    if getattr(model, "_tailor_shared_cache", None) is not None:
        return
    inner = model.encode
    lock = threading.Lock()
    cache: dict[str, object] = {}

    def encode(features: np.ndarray):
        f = np.ascontiguousarray(features, dtype=np.float32)
        key = hashlib.blake2b(f.tobytes(), digest_size=16).hexdigest()
        with lock:
            if key in cache:
                return cache.pop(key)
        out = inner(features)
        if f.shape[-1] == WINDOW_FRAMES:
            with lock:
                cache.clear()
                cache[key] = out
        return out

    model.encode = encode
    model._tailor_shared_cache = cache


def clear_shared_pass(model) -> None:
    """Drop whatever :func:`share_encoder_pass` holds for ``model`` (no-op if it is not installed)."""
    cache = getattr(model, "_tailor_shared_cache", None)
    if cache is not None:
        cache.clear()
