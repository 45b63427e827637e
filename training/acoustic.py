"""The librosa acoustic baseline: statistics of classic speech features per 0.5 s step.

Not used by the app (its voice features are Whisper's encoder states, ``tailor_core/features/voice_states.py``):
the floor the voice probe (``training/probe_voice.py``) measures them against.

Frame level (16 kHz mono, 25 ms window, ``HOP = 20 ms``), ``FRAME_DIM = 34`` values per frame:

* ``[0:13]``  MFCC 0-12 (40 mel bands)
* ``[13:26]`` their deltas
* ``[26]``    log energy (RMS in dBFS)
* ``[27]``    log2 F0 by ``librosa.yin`` (voiced frames only)
* ``[28]``    voicing: normalised autocorrelation at the YIN period, in [0, 1]
* ``[29:33]`` spectral centroid, bandwidth, roll-off (kHz), flatness
* ``[33]``    zero-crossing rate

Step level: mean ``[0:34]`` then standard deviation ``[34:68]`` of the frames centred in the step, so
``ACOUSTIC_DIM = 68`` (like COVAREP's 74-d, this captures both level and variation of pitch, energy and
spectrum within half a second). Pitch mean/std are taken over voiced frames only (0 when a step has none).
Silence is still audio (low energy, no voicing): only missing audio is masked. No per-clip normalisation:
the model normalises with statistics stored in its checkpoint. ``yin`` is used rather than ``pyin``, which is
~100x slower and too slow for live use.
"""

from __future__ import annotations

import math

import numpy as np

from tailor_core.features.grid import SAMPLE_RATE, STEP_SECONDS, n_steps_for

HOP: int = 320  # 20 ms at 16 kHz -> 25 frames per 0.5 s step
WIN: int = 400  # 25 ms analysis window
N_FFT: int = 512
N_MELS: int = 40
N_MFCC: int = 13
FMIN: float = 65.0  # pitch search range (Hz)
FMAX: float = 500.0
YIN_FRAME: int = 1024
VOICING_THRESHOLD: float = 0.45  # periodicity above which a frame counts as voiced
SILENCE_DB: float = -55.0  # frames quieter than this (dBFS RMS) are never voiced
FLOOR_DB: float = -70.0  # below this (dBFS RMS) a frame is silence: voicing, spectral shape, ZCR set to 0
EPS: float = 10 ** (-80 / 20)  # RMS floor (-80 dBFS): int16 dither and digital zeros give the same features
MEL_AMIN: float = 1e-6  # mel power floor, same purpose
FRAME_DIM: int = 2 * N_MFCC + 8
ACOUSTIC_DIM: int = 2 * FRAME_DIM
PITCH_COL: int = 2 * N_MFCC + 1
VOICING_COL: int = 2 * N_MFCC + 2
FRAME_NAMES: list[str] = (
    [f"mfcc{i}" for i in range(N_MFCC)]
    + [f"d_mfcc{i}" for i in range(N_MFCC)]
    + ["log_energy", "log2_f0", "voicing", "centroid_khz", "bandwidth_khz", "rolloff_khz", "flatness", "zcr"]
)
FEATURE_NAMES: list[str] = [f"mean_{n}" for n in FRAME_NAMES] + [f"std_{n}" for n in FRAME_NAMES]

_MEL_BASIS: np.ndarray | None = None


def _mel_basis() -> np.ndarray:
    global _MEL_BASIS
    if _MEL_BASIS is None:
        import librosa

        _MEL_BASIS = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)
    return _MEL_BASIS


def _periodicity(y: np.ndarray, f0: np.ndarray, n_frames: int) -> np.ndarray:
    """Normalised autocorrelation of each centred 25 ms frame at its YIN period, [n_frames] in [0, 1]."""
    import librosa

    maxlag = math.ceil(SAMPLE_RATE / FMIN) + 1
    total = WIN + maxlag
    pad_left = WIN // 2
    need = (n_frames - 1) * HOP + total
    ypad = np.zeros(max(need, len(y) + pad_left), np.float32)
    ypad[pad_left : pad_left + len(y)] = y
    frames = librosa.util.frame(ypad[:need], frame_length=total, hop_length=HOP)[:, :n_frames]  # [total, F]
    lag = np.clip(np.rint(SAMPLE_RATE / np.maximum(f0[:n_frames], 1.0)), 1, maxlag - 1).astype(np.int64)
    a = frames[:WIN]
    idx = np.arange(WIN)[:, None] + lag[None, :]
    b = np.take_along_axis(frames, idx, axis=0)
    num = (a * b).sum(0)
    den = np.sqrt((a * a).sum(0) * (b * b).sum(0)) + 1e-9
    return np.clip(num / den, 0.0, 1.0).astype(np.float32)


def frame_features(y: np.ndarray) -> np.ndarray:
    """[n_frames, FRAME_DIM] float32 frame features of 16 kHz mono float32 ``y``; frame k is centred at
    k*HOP."""
    import librosa

    y = np.ascontiguousarray(np.asarray(y, dtype=np.float32).reshape(-1))
    n = len(y)
    n_frames = 1 + n // HOP
    if n < YIN_FRAME:  # librosa needs at least one full analysis window
        y = np.pad(y, (0, YIN_FRAME - n))
    spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, win_length=WIN, center=True))[:, :n_frames]
    power = spec**2
    mel = _mel_basis() @ power
    mfcc = librosa.feature.mfcc(
        S=librosa.power_to_db(mel, ref=1.0, amin=MEL_AMIN, top_db=None), n_mfcc=N_MFCC
    )
    width = 9 if mfcc.shape[1] >= 9 else (mfcc.shape[1] // 2) * 2 - 1
    d_mfcc = librosa.feature.delta(mfcc, width=width, mode="nearest") if width >= 3 else np.zeros_like(mfcc)
    rms = librosa.feature.rms(S=spec, frame_length=N_FFT)[0]
    log_e = 20.0 * np.log10(rms + EPS)
    freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
    mag_sum = spec.sum(0) + 1e-10
    centroid = (freqs[:, None] * spec).sum(0) / mag_sum
    bandwidth = np.sqrt(((freqs[:, None] - centroid[None, :]) ** 2 * spec).sum(0) / mag_sum)
    cum = np.cumsum(power, axis=0)
    rolloff = freqs[np.minimum((cum < 0.85 * cum[-1:]).sum(0), len(freqs) - 1)].astype(np.float64)
    flatness = librosa.feature.spectral_flatness(S=spec, amin=1e-10)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=WIN, hop_length=HOP, center=True)[0][:n_frames]
    silent = log_e < FLOOR_DB
    for arr in (centroid, bandwidth, rolloff, flatness, zcr):
        arr[silent] = 0.0
    f0 = librosa.yin(
        y, fmin=FMIN, fmax=FMAX, sr=SAMPLE_RATE, frame_length=YIN_FRAME, hop_length=HOP, center=True
    )[:n_frames]
    f0 = np.nan_to_num(f0, nan=FMIN, posinf=FMAX, neginf=FMIN)
    voicing = _periodicity(y, f0, n_frames)
    # periodicity of a noise floor is meaningless (and differs int16 vs float)
    voicing[log_e < FLOOR_DB] = 0.0
    voiced = (voicing > VOICING_THRESHOLD) & (log_e > SILENCE_DB)
    log_f0 = np.where(voiced, np.log2(np.maximum(f0, 1.0)), np.nan)
    feats = np.concatenate(
        [
            mfcc,
            d_mfcc,
            log_e[None],
            log_f0[None],
            voicing[None],
            centroid[None] / 1000.0,
            bandwidth[None] / 1000.0,
            rolloff[None] / 1000.0,
            flatness[None],
            zcr[None],
        ],
        axis=0,
    ).T.astype(np.float32)
    return feats[:n_frames]


def pool_frames(frames: np.ndarray, first_frame: int, n_steps: int, first_step: int = 0) -> np.ndarray:
    """Mean and std per step of frames (row i is absolute frame ``first_frame + i``) -> [n_steps, ACOUSTIC_DIM].

    Steps ``first_step .. first_step + n_steps - 1`` (absolute indices); pitch stats ignore unvoiced (NaN) frames.
    """
    per_step = round(STEP_SECONDS * SAMPLE_RATE / HOP)
    out = np.zeros((n_steps, ACOUSTIC_DIM), np.float32)
    abs_idx = first_frame + np.arange(len(frames))
    step_idx = abs_idx // per_step - first_step
    for s in range(n_steps):
        f = frames[step_idx == s]
        if len(f) == 0:
            continue
        with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(f, axis=0)
            std = np.nanstd(f, axis=0)
        out[s, :FRAME_DIM] = np.nan_to_num(mean)
        out[s, FRAME_DIM:] = np.nan_to_num(std)
    return out


def acoustic_features(samples16k: np.ndarray) -> np.ndarray:
    """[n_steps_for(len/16k), ACOUSTIC_DIM] float32 step features of 16 kHz mono float32 audio."""
    y = np.asarray(samples16k, dtype=np.float32).reshape(-1)
    n_steps = n_steps_for(len(y) / SAMPLE_RATE)
    if n_steps == 0:
        return np.zeros((0, ACOUSTIC_DIM), np.float32)
    return pool_frames(frame_features(y), 0, n_steps)
