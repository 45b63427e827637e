"""TAILOR: versatile multi-modal learning for multi-label emotion recognition (Zhang et al., AAAI 2022)."""

from .config import LABELS, MODALITIES, TailorConfig
from .model import TAILOR, TailorOutput

__all__ = ["LABELS", "MODALITIES", "TAILOR", "TailorConfig", "TailorOutput", "load_model"]
__version__ = "0.1.0"


def load_model(path=None, device=None):
    """Load the shipped (or a given) checkpoint and the feature extractors: a ready ``Predictor``."""
    from .inference import load_model as _load

    return _load(path, device)
