"""Progress reporting, stated once: a callback ``progress(fraction, desc=...)`` (``gr.Progress`` and tqdm
wrappers fit) that may be None and must never break the work it reports on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

ProgressFn = Callable[..., Any]

log = logging.getLogger(__name__)


def report(progress: ProgressFn | None, fraction: float, desc: str) -> None:
    """Call ``progress(fraction, desc=desc)`` if there is a callback; a failing callback is only logged."""
    if progress is None:
        return
    try:
        progress(float(fraction), desc=desc)
    except Exception as e:  # noqa: BLE001 - a broken progress bar must not break an analysis
        log.debug("progress callback failed: %s", e)


def scaled(progress: ProgressFn | None, lo: float, hi: float) -> ProgressFn | None:
    """A callback mapping a sub-task's 0..1 into ``[lo, hi]`` of ``progress``."""
    if progress is None:
        return None
    return lambda fraction, desc="": report(progress, lo + (hi - lo) * float(fraction), desc)
