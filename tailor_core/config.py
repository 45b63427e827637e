"""The one configuration of a TAILOR model, saved as ``config.json`` beside the weights.

``TailorConfig()`` is the paper's CMU-MOSEI *aligned* configuration (Zhang et al., AAAI 2022, and the
authors' public code): GloVe text 300-d, COVAREP audio 74-d, FACET visual 35-d, 60 steps each, hidden
size 256, 8 heads, intermediate size 256, dropout 0.3, 6/4/4 encoder layers, 3 layers per cross-modal
stage, one decoder layer, threshold 0.35.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

#: The six emotion labels, in the model's output order.
LABELS: tuple[str, ...] = ("happy", "sad", "anger", "surprise", "disgust", "fear")
#: The three input sequences, in the model's argument order.
MODALITIES: tuple[str, ...] = ("text", "audio", "visual")
#: The four parts of the fused sequence the label decoder attends over (``TAILOR.modality_slices``).
PC_PARTS: tuple[str, ...] = (*MODALITIES, "common")
#: What a person calls each part (plots, the app, the CLI).
DISPLAY_NAMES: dict[str, str] = {"text": "words", "audio": "voice", "visual": "face", "common": "common"}
# Fields whose default changed after checkpoints were shipped: their value when a config.json lacks them.
LEGACY_DEFAULTS: dict = {"fusion_positions": "segment"}


@dataclass
class TailorConfig:
    # --- inputs: feature sizes and sequence lengths ---
    text_dim: int = 300  # GloVe in the paper; the shipped checkpoint reads 384-d MiniLM word vectors
    audio_dim: int = 74  # COVAREP; shipped: 384-d Whisper encoder states
    visual_dim: int = 35  # FACET; shipped: 191-d blendshapes, head pose and the FER+ network's reading
    # steps per sequence: the longest window the model reads at once
    text_len: int = 60
    audio_len: int = 60
    visual_len: int = 60
    # False = MOSEI unaligned: audio/visual are re-weighted to text length by a CTC module each.
    aligned: bool = True

    # --- transformer sizes (one block class everywhere) ---
    hidden: int = 256
    heads: int = 8
    intermediate: int = 256  # the feed-forward size of each block
    dropout: float = 0.3
    text_layers: int = 6
    audio_layers: int = 4
    visual_layers: int = 4
    cross_layers: int = 3  # per granularity-descent stage (VA, VAT, PC)
    decoder_layers: int = 1
    max_positions: int = 512
    # Position ids inside the three fusion encoders (VA, VAT, PC). "concat": one run of positions over the whole
    # concatenation, as the authors' CrossModel does (needs max_positions >= the PC length Lt + La + Lv + Lt).
    # "segment": every input of a stage restarts at 0, so step t of every modality shares position t; a
    # config.json written before this field existed (the shipped demo checkpoint) means "segment".
    fusion_positions: str = "concat"
    # Dropout on each label's logit before the sigmoid, in the label classifier and the common classifier (the
    # authors' EmotionClassifier and common_classfier: Linear → Dropout(0.1) → Sigmoid). Training only.
    classifier_dropout: float = 0.1

    # --- adversarial multi-modal refinement ---
    common_dropout: float = 0.3
    private_dropout: float = 0.1
    discriminator_hidden: int = 128
    discriminator_dropout: float = 0.1
    grl_lambda: float = 1.0
    # What the auxiliary common classifier reads from the common sequence [B,L,H]: "first" = step 0 (the
    # paper's code; all zeros when step 0 has no modality) or "mean" = the mean over steps where any modality
    # is present.
    common_pool: str = "first"

    # --- labels and decision ---
    labels: tuple[str, ...] = LABELS
    threshold: float = 0.35
    # Per-label thresholds tuned on validation (None: use ``threshold`` for every label).
    thresholds: list[float] | None = None
    # Per-label Platt scaling fitted on validation (training/calibrate.py): score = sigmoid(logit / T + b).
    # None: T = 1, b = 0 (the model's raw sigmoid).
    temperatures: list[float] | None = None
    score_offsets: list[float] | None = None

    # --- loss weights (training/losses.py) ---
    common_loss_weight: float = 0.5
    adversarial_loss_weight: float = 0.01
    orthogonal_loss_weight: float = 5e-6
    ctc_loss_weight: float = 0.5

    # Free-form notes stored with the checkpoint (e.g. how the features were made).
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.fusion_positions not in ("segment", "concat"):
            raise ValueError(f"fusion_positions must be 'segment' or 'concat', got {self.fusion_positions!r}")
        if self.common_pool not in ("first", "mean"):
            raise ValueError(f"common_pool must be 'first' or 'mean', got {self.common_pool!r}")
        if self.thresholds is not None and len(self.thresholds) != len(self.labels):
            raise ValueError(f"thresholds has {len(self.thresholds)} values for {len(self.labels)} labels")
        if self.temperatures is not None and (len(self.temperatures) != len(self.labels)
                                              or min(self.temperatures) <= 0):
            raise ValueError(f"temperatures must be {len(self.labels)} positive values, got {self.temperatures}")
        if self.score_offsets is not None and len(self.score_offsets) != len(self.labels):
            raise ValueError(f"score_offsets must be {len(self.labels)} values, got {self.score_offsets}")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def label_thresholds(self) -> list[float]:
        """The decision threshold of each label, in label order."""
        return list(self.thresholds) if self.thresholds is not None else [self.threshold] * self.num_labels

    @classmethod
    def debug(cls, **overrides) -> TailorConfig:
        """A tiny configuration for tests: same architecture, runs in milliseconds on a CPU."""
        small = dict(
            text_dim=12, audio_dim=10, visual_dim=8, text_len=8, audio_len=8, visual_len=8,
            hidden=32, heads=4, intermediate=32, dropout=0.1, text_layers=1, audio_layers=1,
            visual_layers=1, cross_layers=1, decoder_layers=1, max_positions=64, discriminator_hidden=16,
        )
        small.update(overrides)
        return cls(**small)

    @classmethod
    def unaligned(cls, **overrides) -> TailorConfig:
        """The paper's MOSEI unaligned setting: text 50 steps, audio and visual 500."""
        values = dict(aligned=False, text_len=50, audio_len=500, visual_len=500)
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TailorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config.json has unknown fields {unknown}: is it a TAILOR config of this version?")
        # A config saved before a field existed was trained with that field's old behaviour, not today's default.
        return cls(**{**LEGACY_DEFAULTS, **d})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TailorConfig:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read TAILOR config {path}: {e}") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path} is not a TAILOR config (expected a JSON object)")
        return cls.from_dict(d)
