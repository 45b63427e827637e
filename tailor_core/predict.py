"""The former name of :mod:`tailor_core.cli`: ``python -m tailor_core.predict`` still runs the command line."""

from __future__ import annotations

from .cli import main, run

__all__ = ["main"]

if __name__ == "__main__":
    run()
