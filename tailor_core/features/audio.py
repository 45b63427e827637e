"""Audio helpers: any sample layout to mono float32, any sample rate to 16 kHz."""

from __future__ import annotations

import numpy as np

from .grid import SAMPLE_RATE


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """[n], [n, ch] or [ch, n] int16/int32/uint8/float -> [n] float32 mono in [-1, 1]."""
    from .errors import EmptyInputError, FeatureError

    a = np.asarray(samples)
    if a.size == 0:
        raise EmptyInputError("the audio is empty (0 samples)")
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    elif a.dtype == np.int32:
        a = a.astype(np.float32) / 2147483648.0
    elif a.dtype == np.uint8:
        a = (a.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise FeatureError(f"unsupported audio sample type {a.dtype}")
    if a.ndim == 2:
        ch_axis = 1 if a.shape[1] <= a.shape[0] else 0  # channels are the short axis
        a = a.mean(axis=ch_axis)
    elif a.ndim != 1:
        raise FeatureError(f"expected audio shaped [n], [n, ch] or [ch, n], got {a.shape}")
    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.ascontiguousarray(a, dtype=np.float32)


def resample_to_16k(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """High-quality resampling (soxr) of mono float32 audio to 16 kHz."""
    from .errors import FeatureError

    if sample_rate <= 0:
        raise FeatureError(f"invalid sample rate {sample_rate}")
    if sample_rate == SAMPLE_RATE:
        return np.ascontiguousarray(y, dtype=np.float32)
    import soxr

    return soxr.resample(y, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
