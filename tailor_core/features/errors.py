"""Typed, user-showable errors raised by the feature extractors.

Every failure on bad input is a :class:`FeatureError` (a ``ValueError``) whose message can be shown to an
end user as is. Subclasses let callers react differently when they want to.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

#: Characters a file name keeps in a message; anything else (markup, quotes, control or escape characters) is
#: shown as "_", so a name can't inject HTML into a page or escape sequences into a terminal.
_UNSAFE = re.compile(r"[^\w .,()+@#%=~\[\]-]")


def display_name(path: str | Path, max_chars: int = 60) -> str:
    """A file's name as messages show it: markup and control characters replaced, long names shortened (the
    extension kept)."""
    name = unicodedata.normalize("NFC", Path(str(path)).name)
    name = _UNSAFE.sub("_", name)
    if len(name) > max_chars:
        stem, dot, ext = name.rpartition(".")
        ext = f".{ext}" if dot and len(ext) <= 8 else ""
        name = name[: max_chars - len(ext) - 1] + "…" + ext
    return name or "(unnamed file)"


class FeatureError(ValueError):
    """Base class: the input cannot be turned into features. ``str(err)`` is a clear, one-line message."""


class MediaDecodeError(FeatureError):
    """The file is not readable media (corrupt, truncated, unsupported or not a media file at all)."""


class EmptyInputError(FeatureError):
    """The input holds nothing to analyse (empty file, zero samples, no audio and no video stream)."""


class TooLongError(FeatureError):
    """The input exceeds a configured length limit."""
