"""What each encoder reads on its own, before TAILOR fuses them: a plain check on the fused scores.

When TAILOR says "no clear emotion", a visitor can see whether the face, the voice and the words each read
neutral (then no fusion could do better), or whether one of them read an emotion that the fused model did not
follow. Every readout is in its encoder's own classes (named as TAILOR's labels where they are the same emotion)
and on its own scale:

* **face**: the FER+ network's class probabilities (the last ``N_CLASSES`` values of every visual vector),
  averaged over the steps with a face; they sum to 1 (contempt included).
* **voice**: a logistic regression on the mean and standard deviation, over the steps with voice, of the voice
  features (Whisper tiny.en encoder states, one mean per 0.5 s step), fitted on RAVDESS speech and generated
  silence / room noise by ``training/train_voice_readout.py`` (``assets/voice_emotion.safetensors``,
  hash-checked); seven emotions (neutral included) and *no voice*, summing to 1. Its held-out accuracy is in
  docs/encoders.md.
* **words**: the words encoder's own GoEmotions-Ekman head on the transcript or typed text; one sigmoid per
  class (they need not sum to 1).

Cheap next to the extraction: two small dot products and one MiniLM pass over the words.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .features import FeatureBundle
from .features.errors import FeatureError
from .features.face_expression import CLASSES as FACE_CLASSES
from .features.text_emotion import EmotionTextEncoder
from .features.visual import VISUAL_DIM
from .features.weights import load_weights
from .resources import locate

WEIGHTS_FILENAME: str = "voice_emotion.safetensors"
CONFIG_FILENAME: str = "voice_emotion.json"
WEIGHTS_SHA256: str = "1d5bcb60faa59a190fc07c673c81b9e301a73a0d681ac23b8fc67cdbc5b763c2"
MODEL_ENV: str = "TAILOR_VOICE_READOUT_MODEL"  # optional override of the weights path (config beside it)
NO_VOICE: str = "no voice"  # the voice readout's class for silence and room noise
VOICE_CLASSES: tuple[str, ...] = ("neutral", "happy", "sad", "anger", "fear", "disgust", "surprise", NO_VOICE)
# each encoder's class names said as TAILOR's labels where they are the same emotion
SAME_EMOTION: dict[str, str] = {"happiness": "happy", "joy": "happy", "sadness": "sad", "angry": "anger",
                                "fearful": "fear", "surprised": "surprise"}
FACE_PROBS: slice = slice(VISUAL_DIM - len(FACE_CLASSES), VISUAL_DIM)  # FER+ probabilities in a visual vector
SHOWN: int = 2  # classes per encoder in the one-line summary


def default_weights_path() -> Path:
    """``$TAILOR_VOICE_READOUT_MODEL`` or the shipped ``assets/voice_emotion.safetensors``."""
    return locate(MODEL_ENV, WEIGHTS_FILENAME)


def voice_vector(rows: np.ndarray) -> np.ndarray:
    """[2 * D] float32: mean and standard deviation over the steps of voice features ``rows`` [T, D] (T >= 1);
    the voice readout's input, in training and in the app."""
    r = np.asarray(rows, dtype=np.float32)
    return np.concatenate([r.mean(0), r.std(0)]).astype(np.float32)


class VoiceReadout:
    """The voice readout's standardisation + multinomial logistic regression, loaded strictly from safetensors."""

    def __init__(self, weights_path: str | Path | None = None, expected_sha256: str | None = None) -> None:
        self.weights_path = Path(weights_path) if weights_path else default_weights_path()
        self.expected_sha256 = WEIGHTS_SHA256 if expected_sha256 is None else expected_sha256
        self.config: dict = {}
        self._w: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def load(self) -> VoiceReadout:
        """Read and check the weights: ``ResourceError`` on a missing or altered file, ``FeatureError`` on one
        that is unreadable or does not match its config."""
        with self._lock:
            if self._w is not None:
                return self
            w, config = load_weights(self.weights_path, CONFIG_FILENAME, self.expected_sha256, MODEL_ENV,
                                     "voice-readout weights")
            n, d = len(config.get("classes", ())), int(config.get("dim", 0))
            shapes = {"mean": (d,), "scale": (d,), "coef": (n, d), "intercept": (n,)}
            if tuple(config.get("classes", ())) != VOICE_CLASSES or {k: v.shape for k, v in w.items()} != shapes:
                raise FeatureError(f"voice-readout weights {self.weights_path} do not match their config "
                                   f"(classes {VOICE_CLASSES}, dim {d})")
            self.config, self._w = config, {k: v.astype(np.float64) for k, v in w.items()}
        return self

    def probs(self, rows: np.ndarray) -> dict[str, float]:
        """Class probabilities from the voice features of the steps with voice, ``rows`` [T, D] (T >= 1)."""
        return self.probs_of(voice_vector(rows))

    def probs_of(self, vector: np.ndarray) -> dict[str, float]:
        """Class probabilities from one readout input [2 * D] (:func:`voice_vector`)."""
        w = self.load()._w
        z = (np.asarray(vector, np.float64) - w["mean"]) / w["scale"]
        logits = w["coef"] @ z + w["intercept"]
        p = np.exp(logits - logits.max())
        return dict(zip(VOICE_CLASSES, (p / p.sum()).tolist(), strict=True))


def _named(probs: dict[str, float]) -> dict[str, float]:
    return {SAME_EMOTION.get(k, k): round(float(v), 4) for k, v in probs.items()}


def read_encoders(bundle: FeatureBundle, text_encoder: EmotionTextEncoder, voice: VoiceReadout
                  ) -> dict[str, dict[str, float]]:
    """Modality (``"visual"``, ``"audio"``, ``"text"``, only those present) -> class -> what its encoder alone
    reads from ``bundle`` (see the module docstring for each scale)."""
    out: dict[str, dict[str, float]] = {}
    if bundle.visual_mask.any():
        face = bundle.visual[bundle.visual_mask][:, FACE_PROBS].mean(0)
        out["visual"] = _named(dict(zip(FACE_CLASSES, face.tolist(), strict=True)))
    if bundle.audio_mask.any():
        out["audio"] = _named(voice.probs(bundle.audio[bundle.audio_mask]))
    text = bundle.transcript.strip()
    if bundle.text_mask.any() and text:
        out["text"] = _named(text_encoder.emotion_probs(text))
    return out


def readout_line(readouts: dict[str, dict[str, float]], names: dict[str, str], shown: int = SHOWN) -> str:
    """One line such as ``face: neutral 0.92, sad 0.04 · voice: neutral 0.84, sad 0.15``; ``names`` gives each
    modality's display name; '' when there is nothing."""
    parts = []
    for m, probs in readouts.items():
        top = sorted(probs.items(), key=lambda kv: -kv[1])[:shown]
        parts.append(f"{names.get(m, m)}: " + ", ".join(f"{k} {v:.2f}" for k, v in top))
    return " · ".join(parts)


__all__ = ["NO_VOICE", "VOICE_CLASSES", "VoiceReadout", "read_encoders", "readout_line", "voice_vector"]
