"""``Closeable``: the one ``with``-block protocol of the objects that hold native resources (MediaPipe landmarkers)."""

from __future__ import annotations

from typing import Self


class Closeable:
    """Leaving a ``with`` block calls :meth:`close`; subclasses define what it releases."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Closeable"]
