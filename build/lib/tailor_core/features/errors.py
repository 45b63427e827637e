"""Typed, user-showable errors raised by the feature extractors.

Every failure on bad input is a :class:`FeatureError` (a ``ValueError``) whose message can be shown to an
end user as is. Subclasses let callers react differently when they want to.
"""

from __future__ import annotations


class FeatureError(ValueError):
    """Base class: the input cannot be turned into features. ``str(err)`` is a clear, one-line message."""


class MediaDecodeError(FeatureError):
    """The file is not readable media (corrupt, truncated, unsupported or not a media file at all)."""


class EmptyInputError(FeatureError):
    """The input holds nothing to analyse (empty file, zero samples, no audio and no video stream)."""


class TooLongError(FeatureError):
    """The input exceeds a configured length limit."""
