"""Generated training items: "nothing" audio (a voice channel with no voice) for the demo data and the voice
readout."""

from __future__ import annotations

import numpy as np


def nothing_audio(seed: int, sample_rate: int = 16_000) -> np.ndarray:
    """2-5 s of silence or room noise (hum, hiss or pink noise, -60 to -25 dB): a voice channel with no voice."""
    rng = np.random.default_rng(seed)
    n = int(rng.uniform(2.0, 5.0) * sample_rate)
    kind = seed % 4
    if kind == 0:
        y = np.zeros(n, np.float32)
    elif kind == 1:  # mains hum and its harmonics
        t = np.arange(n) / sample_rate
        f = rng.choice([50.0, 60.0])
        y = sum(np.sin(2 * np.pi * f * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3))
    elif kind == 2:  # hiss
        y = rng.normal(size=n)
    else:  # pink noise (1/f), like a room
        spec = np.fft.rfft(rng.normal(size=n))
        spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
        y = np.fft.irfft(spec, n)
    level = 10 ** (rng.uniform(-60, -25) / 20)
    y = np.asarray(y, np.float32)
    return (y / (np.abs(y).max() + 1e-9) * level).astype(np.float32)
