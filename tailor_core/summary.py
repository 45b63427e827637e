"""A result in words: the headline and the "what was read" line, the same in the app and on the command line."""

from __future__ import annotations

from typing import Any

from .config import DISPLAY_NAMES, MODALITIES
from .readouts import readout_line


def headline(pred: Any, span: str = "") -> str:
    """One sentence a person reads first: "mostly fear, some surprise" (labels over threshold, strongest first,
    by how far over its own threshold each is), or "no clear emotion" when none passes. ``span`` is appended."""
    if pred is None or not pred.scores:
        return "no result yet"
    over = sorted(pred.labels, key=lambda k: pred.shown_scores[k] - pred.thresholds.get(k, 0.0), reverse=True)
    if not over:
        text = "no clear emotion"
    elif len(over) == 1:
        text = f"mostly {over[0]}"
    else:
        text = f"mostly {over[0]}, some {' and '.join(over[1:])}" if len(over) <= 3 else \
            f"mostly {over[0]}, some {', '.join(over[1:-1])} and {over[-1]}"
    return f"{text} — {span}" if span else text


def present_names(pred: Any) -> str:
    """"words, voice, face" (what was found in the input), or "nothing"."""
    return ", ".join(DISPLAY_NAMES[m] for m in MODALITIES if pred.present.get(m)) or "nothing"


def inputs_line(pred: Any, timed: bool, seconds: float | None = None) -> str:
    """What was read: "words, voice, face · face seen in 5/6 steps · 3.2 s of input · analysed in 0.9 s".

    ``timed``: the input has a time axis (a clip or a recording). A photo or typed text has none: no step
    counts and no duration are shown for them. ``seconds``: the analysis time, if it should be shown."""
    parts = [present_names(pred)]
    faces = sum(pred.face_steps)
    if timed:
        parts.append(f"face seen in {faces}/{len(pred.face_steps)} steps" if faces else "no face seen")
        parts.append(f"{pred.duration:.1f} s of input")
    elif pred.present.get("visual"):
        parts.append("face found")
    if seconds is not None:
        parts.append(f"analysed in {seconds:.1f} s")
    return " · ".join(parts)


def readouts_text(pred: Any) -> str:
    """``face: happy 0.70, … · voice: …``: what each encoder read alone ('' when there are no readouts)."""
    return readout_line(pred.readouts, DISPLAY_NAMES)


__all__ = ["headline", "inputs_line", "present_names", "readouts_text"]
