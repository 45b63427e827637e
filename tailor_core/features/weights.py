"""The one loader of the small networks shipped in ``assets/``: a safetensors file and its JSON config beside it.

Used for the face-expression network, the emotion-tuned text layers and the voice readout. A missing or altered
file raises :class:`~tailor_core.resources.ResourceError` (:func:`~tailor_core.resources.check_weights`); one that
is not a readable safetensors file raises :class:`~tailor_core.features.errors.FeatureError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from ..resources import check_weights
from .errors import FeatureError


def load_weights(path: Path, config_filename: str, expected_sha256: str | None, override_env: str, what: str,
                 framework: Literal["numpy", "torch"] = "numpy") -> tuple[dict[str, Any], dict[str, Any]]:
    """(name -> tensor, config) of the weights at ``path`` and the config ``config_filename`` beside it.

    The SHA-256 is checked unless ``expected_sha256`` is empty or ``$override_env`` is set (the user's own file);
    tensors are numpy arrays or torch tensors, as ``framework`` says."""
    cfg_path = check_weights(path, config_filename, expected_sha256, override_env, what)
    if framework == "torch":
        from safetensors.torch import load
    else:
        from safetensors.numpy import load
    try:
        tensors = load(path.read_bytes())
    except Exception as e:  # truncated or not a safetensors file
        raise FeatureError(f"{what} {path} could not be read: {e}") from e
    return tensors, json.loads(cfg_path.read_text())


__all__ = ["load_weights"]
