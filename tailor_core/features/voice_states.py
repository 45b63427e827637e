"""Voice features from Whisper tiny.en's encoder (the model the app already loads for speech to text).

The encoder turns 16 kHz audio into 384-d states every 20 ms (``HOP_SECONDS``), i.e. 25 states per 0.5 s
grid step. Pooled over a clip they separate emotions far better than hand-made acoustic features
(docs/encoders.md). Per step we keep the mean of the states whose 20 ms frame is centred in the step
(``AUDIO_DIM = 384``).

Whisper's 30 s window: audio is encoded in chunks of ``pad_seconds`` (``PAD_SECONDS`` for a file), each
chunk's log-mel zero-padded to that length exactly as faster-whisper pads it for transcription (Whisper was
trained on such windows; shorter padding is cheaper but reads a voice worse); only the states of real audio
are kept. The live view pads to a shorter window (:class:`~tailor_core.options.LiveOptions`).

These functions take a loaded ``faster_whisper.WhisperModel`` and never change it. :func:`encoder_pass` also
returns the encoder output of the one 30 s window a transcription of the same audio starts with, so that
:class:`~tailor_core.features.speech.SpeechRecognizer` can hand it to the decoder instead of encoding the
audio twice.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from .grid import SAMPLE_RATE, STEP_SECONDS, n_steps_for

AUDIO_DIM: int = 384  # Whisper tiny.en d_model: the audio features on the grid
HOP_SECONDS: float = 0.02  # one encoder state per 20 ms (mel hop 10 ms, conv stride 2)
FRAMES_PER_STEP: int = round(STEP_SECONDS / HOP_SECONDS)  # 25
FRAME_SAMPLES: int = round(HOP_SECONDS * SAMPLE_RATE)  # 320
WINDOW_SECONDS: float = 30.0  # Whisper's fixed input window
MEL_FRAMES_PER_SECOND: int = 100  # Whisper's log-mel hop is 10 ms
WINDOW_FRAMES: int = round(WINDOW_SECONDS * MEL_FRAMES_PER_SECOND)  # 3000
#: The window a file's audio is encoded in (0 would mean unpadded 30 s chunks). The checkpoint was trained on
#: features of this window, and a transcription encodes the same one, so a clip of up to 30 s needs one pass.
PAD_SECONDS: float = WINDOW_SECONDS
MIN_SAMPLES: int = FRAME_SAMPLES  # shorter audio gives no encoder frame
#: A file's voice features average the states of this many passes, the audio as given and shifted by half a state
#: (one 10 ms mel hop; :func:`two_phase_states`). Whisper pairs 10 ms mel frames into 20 ms states, so the same
#: audio shifted by 10 ms (e.g. a little silence in front) reads noticeably differently and can flip a close
#: reading; averaging both phases makes a file's scores nearly independent of that shift, for one more encoder pass
#: a file (docs/robustness.md measures it). 1: one pass, as the live view and the checkpoint's training.
FILE_PHASES: int = 2
HALF_STATE: int = FRAME_SAMPLES // 2  # 160 samples = 10 ms, one mel hop
#: A file's voice can be encoded in pieces cut at its pauses, each piece alone in its own window (two phases each),
#: the way TAILOR's training voices were encoded (single recordings, each alone): one pass over a clip of someone
#: talking on gives every step's state seconds of other speech, and TAILOR reads those worse. A pause is a gap of at
#: least this many seconds between the speech regions of Silero VAD (the detector faster-whisper ships and its
#: transcription runs); a piece is cut in its middle, on a 20 ms frame. A file with no such pause keeps one pass
#: (``FeatureExtractor.voice_pause_seconds`` = 0 turns the cut off); docs/robustness.md, "A speaker talking on, read
#: as a file", measures the choice.
PAUSE_SECONDS: float = 0.6
#: The window a piece is padded to: a third of a 30 s pass's cost, so a clip cut in pieces costs about what one
#: that is not does; it read talking streams about as well as the 30 s window (a file that is not cut keeps 30 s).
PIECE_PAD_SECONDS: float = 15.0
VAD_SPEECH_PAD_MS: int = 100  # Silero's margin around each speech region (faster-whisper's default, 400, is for ASR)


def _encode_chunk(model: Any, y: np.ndarray, pad_seconds: float) -> tuple[np.ndarray, Any]:
    """States [n_frames, AUDIO_DIM] float32 of one chunk (<= 30 s) of 16 kHz audio, n_frames = ceil(len / 320),
    and the encoder's own output (a CTranslate2 ``StorageView`` [1, pad frames, AUDIO_DIM])."""
    from faster_whisper.audio import pad_or_trim

    n_frames = int(np.ceil(len(y) / FRAME_SAMPLES))
    feats = model.feature_extractor(y)  # [80, len/160 + 1] log-mel
    if pad_seconds >= WINDOW_SECONDS:
        # exactly the window faster-whisper's transcription encodes (it drops the last mel frame, then pads)
        feats = feats[:, : feats.shape[1] - 1]
    if pad_seconds > 0:
        feats = pad_or_trim(feats, round(MEL_FRAMES_PER_SECOND * pad_seconds))
    else:
        feats = feats[:, : 2 * n_frames]
    out = model.encode(feats)
    return np.asarray(out, dtype=np.float32)[0][:n_frames], out


def encoder_pass(model: Any, samples16k: np.ndarray, pad_seconds: float | None = None) -> tuple[np.ndarray, Any]:
    """Whisper encoder states [ceil(len / 320), AUDIO_DIM] float32 of 16 kHz mono audio of any length, and the
    encoder output a transcription of the same audio can reuse (None unless there is one).

    The audio is encoded in consecutive chunks of ``pad_seconds`` (default ``PAD_SECONDS``; 0: unpadded 30 s
    chunks), each padded to that length; states of padding are dropped, so frame ``i`` always covers
    [20i, 20i + 20) ms (a last chunk of under ``MIN_SAMPLES`` gives no frame, so a row fewer). The reusable
    output is that of the first chunk when it is exactly the first window faster-whisper transcribes: a 30 s pad
    and audio of at most 30 s (a longer clip's first chunk is cut from the audio, so its last log-mel frames
    differ from those of the whole clip).
    """
    pad = PAD_SECONDS if pad_seconds is None else float(pad_seconds)
    if not 0 <= pad <= WINDOW_SECONDS:
        raise ValueError(f"pad_seconds must be in [0, {WINDOW_SECONDS}], got {pad}")
    y = np.ascontiguousarray(np.asarray(samples16k, dtype=np.float32).reshape(-1))
    chunk = int((pad or WINDOW_SECONDS) * SAMPLE_RATE)
    passes = [_encode_chunk(model, y[i: i + chunk], pad) for i in range(0, len(y), chunk)
              if len(y) - i >= MIN_SAMPLES]
    if not passes:
        return np.zeros((0, AUDIO_DIM), np.float32), None
    window = passes[0][1] if pad >= WINDOW_SECONDS and len(y) <= chunk else None
    return np.concatenate([states for states, _ in passes]), window


def encoder_states(model: Any, samples16k: np.ndarray, pad_seconds: float | None = None) -> np.ndarray:
    """Whisper encoder states [ceil(len / 320), AUDIO_DIM] float32 of 16 kHz mono audio (see
    :func:`encoder_pass`)."""
    return encoder_pass(model, samples16k, pad_seconds)[0]


def two_phase_states(model: Any, samples16k: np.ndarray, states: np.ndarray | None = None,
                     pad_seconds: float | None = None) -> np.ndarray:
    """States [ceil(len / 320), AUDIO_DIM] of 16 kHz audio as the mean of two phases: ``states`` (the audio's own,
    encoded here if None) and the states of the audio shifted by ``HALF_STATE`` samples, interpolated onto the
    first pass's frame centres (frame j: half its own state plus a quarter of each shifted state around its
    centre). A shift of the input by 10 ms swaps the two phases, so it changes what is read far less."""
    y = np.ascontiguousarray(np.asarray(samples16k, dtype=np.float32).reshape(-1))
    s0 = encoder_states(model, y, pad_seconds) if states is None else np.asarray(states, np.float32)
    if len(s0) == 0:
        return s0
    return blend_phases(s0, encoder_states(model, np.concatenate([np.zeros(HALF_STATE, np.float32), y]), pad_seconds))


def blend_phases(states: np.ndarray, shifted: np.ndarray) -> np.ndarray:
    """[n, AUDIO_DIM]: ``states`` [n, D] averaged with ``shifted`` ([n or n + 1, D], the states of the same audio
    delayed by ``HALF_STATE``) interpolated onto ``states``' frame centres."""
    s0 = np.asarray(states, np.float32)
    s1 = np.concatenate([shifted, shifted[-1:]])  # the shifted audio has at most one frame more; repeat its last
    return (0.5 * s0 + 0.25 * (s1[: len(s0)] + s1[1: len(s0) + 1])).astype(np.float32)


def pause_cuts(samples16k: np.ndarray, pause_seconds: float = PAUSE_SECONDS) -> list[int]:
    """Sample offsets ``[0, c_1, ..., n]`` of the pieces of 16 kHz audio [n] cut in the middle of each pause of at
    least ``pause_seconds`` between speech regions (each inner cut a multiple of ``FRAME_SAMPLES``, so the pieces'
    states line up with the whole clip's frames); ``[0, n]`` when there is no such pause or ``pause_seconds`` is 0."""
    y = np.ascontiguousarray(np.asarray(samples16k, dtype=np.float32).reshape(-1))
    if pause_seconds <= 0 or len(y) < 2 * MIN_SAMPLES:
        return [0, len(y)]
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    regions = get_speech_timestamps(y, VadOptions(min_silence_duration_ms=round(1000 * pause_seconds),
                                                  speech_pad_ms=VAD_SPEECH_PAD_MS))
    inner = [round((a["end"] + b["start"]) / 2 / FRAME_SAMPLES) * FRAME_SAMPLES for a, b in pairwise(regions)]
    return [0, *sorted({c for c in inner if MIN_SAMPLES <= c <= len(y) - MIN_SAMPLES}), len(y)]


def file_states(model: Any, samples16k: np.ndarray, states: np.ndarray | None = None,
                pause_seconds: float = 0.0) -> np.ndarray:
    """The encoder states [ceil(n / 320), AUDIO_DIM] a file's voice features are pooled from:
    :func:`two_phase_states` when ``FILE_PHASES`` is 2, else ``states`` (or one pass). With ``pause_seconds``, the
    audio is first cut at its pauses (:func:`pause_cuts`) and each piece encoded alone; ``states`` (the whole
    clip's one pass) is used only when there is a single piece."""
    y = np.ascontiguousarray(np.asarray(samples16k, dtype=np.float32).reshape(-1))
    cuts = pause_cuts(y, pause_seconds)
    if len(cuts) > 2:
        return np.concatenate([_phased(model, y[a:b], None, PIECE_PAD_SECONDS) for a, b in pairwise(cuts)])
    return _phased(model, y, states, None)


def _phased(model: Any, y: np.ndarray, states: np.ndarray | None, pad_seconds: float | None) -> np.ndarray:
    """``FILE_PHASES`` passes of ``y`` (``states``: its first pass, when the caller has it)."""
    if FILE_PHASES == 2:
        return two_phase_states(model, y, states, pad_seconds)
    return encoder_states(model, y, pad_seconds) if states is None else states


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


def clip_voice_features(model: Any, samples16k: np.ndarray, n_steps: int | None = None,
                        pad_seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-step voice features of a whole clip -> ([n_steps, AUDIO_DIM], mask [n_steps]).

    ``n_steps`` defaults to the grid's ``n_steps_for(duration)``; ``pad_seconds`` is :func:`encoder_pass`'s
    (default: a file's 30 s window; training code passes the live window to see what a live update sees).
    """
    y = np.asarray(samples16k, dtype=np.float32).reshape(-1)
    if n_steps is None:
        n_steps = n_steps_for(len(y) / SAMPLE_RATE)
    return pool_steps(encoder_states(model, y, pad_seconds), n_steps)


__all__ = ["AUDIO_DIM", "FILE_PHASES", "PAD_SECONDS", "PAUSE_SECONDS", "blend_phases", "clip_voice_features",
           "encoder_pass", "encoder_states", "file_states", "pause_cuts", "pool_steps", "two_phase_states"]
