"""``Closeable``: the one ``with``-block protocol of the objects that hold native resources (MediaPipe landmarkers)."""

from __future__ import annotations

from typing import TypeVar

_C = TypeVar("_C", bound="Closeable")  # typing.Self needs Python 3.11; the project supports 3.10


class Closeable:
    """Leaving a ``with`` block calls :meth:`close`; subclasses define what it releases."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Closeable"]
