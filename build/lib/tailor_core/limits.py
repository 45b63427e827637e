"""Every input cap, defined once and shared by the Predictor, the CLI and the app.

Defaults suit a public demo on two CPU cores. Each can be changed with an environment variable (read once, at
import) or per call (``Limits(max_seconds=600)``, the CLI's ``--max-seconds``). What the caps mean:

* ``max_seconds``: audio and video are decoded up to this many seconds of *decoded* media (never the
  container's claimed duration); a longer file is analysed up to the cap and the result says so.
* ``max_file_mb``: files larger than this are refused before they are opened.
* ``max_text_chars``: longer typed text is refused (the text model reads at most ~250 words per window anyway).
* ``max_image_pixels``: images whose header declares more pixels are refused before any pixel is decoded
  (decompression bombs); large but allowed photos are downscaled while decoding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return float(default)


@dataclass(frozen=True)
class Limits:
    """Input caps (see the module docstring)."""

    max_seconds: float = _env("TAILOR_MAX_SECONDS", 120.0)
    max_file_mb: float = _env("TAILOR_MAX_FILE_MB", 50.0)
    max_text_chars: int = int(_env("TAILOR_MAX_TEXT_CHARS", 2000))
    max_image_pixels: int = int(_env("TAILOR_MAX_IMAGE_PIXELS", 40_000_000))

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


#: The caps used when none are given.
DEFAULT_LIMITS = Limits()
