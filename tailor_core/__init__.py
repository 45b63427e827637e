"""TAILOR: versatile multi-modal learning for multi-label emotion recognition (Zhang et al., AAAI 2022).

Data flows one way: media -> ``features`` (a ``FeatureBundle`` on one time grid) -> ``model`` (the whole
forward pass) -> ``scoring`` (a ``Prediction``) -> ``plots`` / JSON. ``predictor`` ties features, model and
scoring together for one input, ``live`` for a webcam/microphone stream; ``cli`` is the command line. Settings
are typed in ``options``. Training, evaluation and checkpoint building live outside the package, in the
top-level ``training/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import offline as _offline
from .config import LABELS, MODALITIES, TailorConfig
from .model import TAILOR, TailorOutput

_offline.disable_library_telemetry()  # before onnxruntime is imported: no native telemetry (offline.py)

if TYPE_CHECKING:  # pragma: no cover
    from .predictor import Predictor

__all__ = ["LABELS", "MODALITIES", "TAILOR", "TailorConfig", "TailorOutput", "load_model"]
__version__ = "0.2.0"


def load_model(path: str | None = None, device: str | None = None, **kwargs: object) -> Predictor:
    """The shipped (or a given) checkpoint and the feature extractors, offline: a ready ``Predictor``.

    See :func:`tailor_core.predictor.load_model` for the arguments."""
    from .predictor import load_model as _load  # the extractors' heavy imports only when asked for

    return _load(path, device, **kwargs)
