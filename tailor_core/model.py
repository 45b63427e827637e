"""TAILOR: the whole forward pass in one file.

Zhang et al., "Tailor Versatile Multi-modal Learning for Multi-label Emotion Recognition", AAAI 2022.

    text  [B,Lt,Dt] ─ embed ─ encoder(6) ─┐            ┌ private_t ─────────────────────────┐
    audio [B,La,Da] ─ embed ─ encoder(4) ─┼─ refine ───┼ private_a ┐                        │
    visual[B,Lv,Dv] ─ embed ─ encoder(4) ─┘            ├ private_v ┴ fuse → VA ┐            │
                                                       │                       ├ fuse → VAT ┤
                                                       └ common (shared, Σ over modalities) ┴ fuse → PC
    PC = [text | audio | visual | common]  ── label-guided decoder (6 label queries) ── Linear → sigmoid

One block class (``Block``, post-LN BERT style) serves every encoder, every fusion stage and the decoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import MODALITIES, TailorConfig

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


# ----------------------------------------------------------------------------------------------------------
# Building blocks


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by -λ backward (Ganin & Lempitsky, 2015)."""

    @staticmethod
    def forward(ctx, x: Tensor, lambd: float) -> Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.lambd * grad, None


def grad_reverse(x: Tensor, lambd: float = 1.0) -> Tensor:
    return GradientReversal.apply(x, lambd)


def _usable(mask: Tensor) -> Tensor:
    """A key mask [B,L] where rows with no valid key are opened entirely.

    A sequence with nothing in it (no face in the whole clip, say) would give a softmax over no keys (NaN).
    Its outputs are masked out downstream, so letting it attend anywhere is harmless and keeps numbers finite.
    """
    return mask | ~mask.any(dim=-1, keepdim=True)


class Attention(nn.Module):
    """Multi-head attention that can return its weights [B,H,Lq,Lk] (masked keys get exactly 0)."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = dropout

    def forward(self, x: Tensor, memory: Tensor, key_mask: Tensor, need_weights: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        B, Lq, H = x.shape
        Lk = memory.shape[1]
        d = H // self.heads
        q = self.query(x).view(B, Lq, self.heads, d).transpose(1, 2)
        k = self.key(memory).view(B, Lk, self.heads, d).transpose(1, 2)
        v = self.value(memory).view(B, Lk, self.heads, d).transpose(1, 2)
        allowed = _usable(key_mask)[:, None, None, :]  # [B,1,1,Lk]
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)
            weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
            y = F.dropout(weights, p, self.training) @ v
        else:  # fused kernel when nobody looks at the weights
            y, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p), None
        return self.out(y.transpose(1, 2).reshape(B, Lq, H)), weights


class Block(nn.Module):
    """Post-LN transformer block (BERT): self-attention, optional cross-attention, GELU feed-forward."""

    def __init__(self, hidden: int, heads: int, intermediate: int, dropout: float, cross: bool = False):
        super().__init__()
        self.self_attn = Attention(hidden, heads, dropout)
        self.self_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.cross_attn = Attention(hidden, heads, dropout) if cross else None
        self.cross_norm = nn.LayerNorm(hidden, eps=1e-12) if cross else None
        self.ffn = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(), nn.Linear(intermediate, hidden))
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, memory: Tensor | None = None, memory_mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x [B,L,H], mask [B,L] bool; memory [B,M,H] with memory_mask [B,M] for cross-attention.

        Returns the new x and, when asked, the cross-attention weights [B,heads,L,M].
        """
        y, _ = self.self_attn(x, x, mask)
        x = self.self_norm(x + self.drop(y))
        weights = None
        if self.cross_attn is not None:
            y, weights = self.cross_attn(x, memory, memory_mask, need_weights)
            x = self.cross_norm(x + self.drop(y))
        x = self.ffn_norm(x + self.drop(self.ffn(x)))
        return x, weights


class Encoder(nn.Module):
    """BERT-like encoder: (segments + position + token-type embeddings) → LayerNorm → dropout → blocks.

    Used for each unimodal encoder (one segment, features projected to ``hidden``) and for each
    cross-modal fusion stage (several segments, already ``hidden``-sized, each with its own token type).
    ``concat_positions`` False: positions restart at 0 in every segment (on an aligned grid, step t of every
    modality shares position t); True: one run of positions over the concatenation (the authors' CrossModel).
    """

    def __init__(self, cfg: TailorConfig, layers: int, segments: int = 1, in_dim: int | None = None,
                 concat_positions: bool = False):
        super().__init__()
        self.concat_positions = concat_positions
        # Unimodal encoders: LayerNorm over the raw feature dim then a Linear to hidden size.
        self.project = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, cfg.hidden)) if in_dim else None
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.token_type = nn.Embedding(segments, cfg.hidden) if segments > 1 else None
        self.norm = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            Block(cfg.hidden, cfg.heads, cfg.intermediate, cfg.dropout) for _ in range(layers))

    def forward(self, segments: list[Tensor], masks: list[Tensor], token_types: list[int] | None = None
                ) -> tuple[Tensor, Tensor]:
        """segments: [B,Li,D] each; masks: [B,Li] bool each; token_types: one per segment (default 0,1,..)
        → (x [B,ΣLi,H], mask [B,ΣLi])."""
        parts, start = [], 0
        for i, seg in zip(token_types or range(len(segments)), segments):
            x = self.project(seg) if self.project is not None else seg
            pos = torch.arange(start, start + seg.shape[1], device=seg.device)
            if self.concat_positions:
                start += seg.shape[1]
            x = x + self.position(pos)
            if self.token_type is not None:
                x = x + self.token_type.weight[i]
            parts.append(x)
        x, mask = torch.cat(parts, dim=1), torch.cat(masks, dim=1)
        x = self.drop(self.norm(x))
        for block in self.blocks:
            x, _ = block(x, mask)
        return x, mask


class CTCAligner(nn.Module):
    """Unaligned setting (MulT's CTC module): re-weights a long stream [B,Ls,D] into text length [B,Lt,D].

    An LSTM gives, per source step, a distribution over Lt text positions plus a CTC blank (index 0).
    """

    def __init__(self, in_dim: int, text_len: int):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, text_len + 1, batch_first=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits, _ = self.lstm(x)                              # [B,Ls,Lt+1]
        probs = logits.softmax(dim=-1)
        aligned = probs[:, :, 1:].transpose(1, 2) @ x         # [B,Lt,D]
        return aligned, logits.log_softmax(dim=-1)


def _feature_stats(dim: int) -> tuple[Tensor, Tensor]:
    return torch.zeros(dim), torch.ones(dim)


# ----------------------------------------------------------------------------------------------------------
# The model


@dataclass
class TailorOutput:
    """What ``TAILOR.forward`` returns. Shapes: B batch, N labels, H hidden, L = Lt+La+Lv+Lt (PC length)."""

    logits: Tensor                         # [B,N] label logits
    scores: Tensor                         # [B,N] sigmoid probabilities
    common_logits: Tensor                  # [B,N] auxiliary classifier on the pooled common sequence
    attention: Tensor | None = None        # [B,N,heads,L] decoder cross-attention of the last layer
    # For the losses (losses.py): per-modality private and common sequences [B,Lm,H], their masks, and the
    # discriminator's logits on private and (gradient-reversed) common features [B,Lm,3].
    private: dict[str, Tensor] = field(default_factory=dict)
    common: dict[str, Tensor] = field(default_factory=dict)
    masks: dict[str, Tensor] = field(default_factory=dict)
    discriminator_private: dict[str, Tensor] = field(default_factory=dict)
    discriminator_common: dict[str, Tensor] = field(default_factory=dict)
    ctc_log_probs: dict[str, Tensor] = field(default_factory=dict)  # unaligned only: [B,Ls,Lt+1]


class TAILOR(nn.Module):
    def __init__(self, config: TailorConfig):
        super().__init__()
        cfg = self.config = config
        dims = {"text": cfg.text_dim, "audio": cfg.audio_dim, "visual": cfg.visual_dim}
        layers = {"text": cfg.text_layers, "audio": cfg.audio_layers, "visual": cfg.visual_layers}
        # Feature normalisation stored with the weights (identity for MOSEI; set by the demo's training data).
        for m in MODALITIES:
            mean, std = _feature_stats(dims[m])
            self.register_buffer(f"{m}_mean", mean)
            self.register_buffer(f"{m}_std", std)
        self.ctc = nn.ModuleDict(
            {m: CTCAligner(dims[m], cfg.text_len) for m in ("audio", "visual")} if not cfg.aligned else {})
        self.encoders = nn.ModuleDict({m: Encoder(cfg, layers[m], in_dim=dims[m]) for m in MODALITIES})

        # Adversarial multi-modal refinement.
        self.common = nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden), nn.Dropout(cfg.common_dropout), nn.Tanh())
        self.private = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden), nn.Dropout(cfg.private_dropout), nn.Tanh())
            for m in MODALITIES})
        self.discriminator = nn.Sequential(
            nn.Linear(cfg.hidden, cfg.discriminator_hidden), nn.Dropout(cfg.discriminator_dropout), nn.ReLU(),
            nn.Linear(cfg.discriminator_hidden, len(MODALITIES)))
        self.common_classifier = nn.Linear(cfg.hidden, cfg.num_labels)

        # Granularity descent: visual+audio → VA; text+VA → VAT; VAT+common → PC.
        concat = cfg.fusion_positions == "concat"
        self.fuse_va = Encoder(cfg, cfg.cross_layers, segments=2, concat_positions=concat)
        self.fuse_vat = Encoder(cfg, cfg.cross_layers, segments=2, concat_positions=concat)
        self.fuse_pc = Encoder(cfg, cfg.cross_layers, segments=2, concat_positions=concat)

        # Label-guided decoder.
        self.label_embedding = nn.Embedding(cfg.num_labels, cfg.hidden)
        self.label_norm = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.label_drop = nn.Dropout(cfg.dropout)
        self.decoder = nn.ModuleList(
            Block(cfg.hidden, cfg.heads, cfg.intermediate, cfg.dropout, cross=True)
            for _ in range(cfg.decoder_layers))
        self.classifier = nn.Linear(cfg.hidden, 1)  # shared over labels
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # BERT's initialisation.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------------------------------------------

    def modality_slices(self, lt: int, la: int | None = None, lv: int | None = None) -> dict[str, slice]:
        """Which positions of the PC sequence [text | audio | visual | common] belong to which modality.

        In the unaligned setting audio and visual are re-weighted to text length, so la and lv are ignored.
        """
        if not self.config.aligned or la is None:
            la = lt
        if not self.config.aligned or lv is None:
            lv = lt
        bounds = {"text": (0, lt), "audio": (lt, lt + la), "visual": (lt + la, lt + la + lv),
                  "common": (lt + la + lv, lt + la + lv + lt)}
        return {m: slice(a, b) for m, (a, b) in bounds.items()}

    def calibrated(self, logits: Tensor) -> Tensor:
        """Scores [B,N] from logits [B,N]: sigmoid(logit / T + b), the config's per-label calibration."""
        if self.config.temperatures is not None:
            logits = logits / logits.new_tensor(self.config.temperatures)
        if self.config.score_offsets is not None:
            logits = logits + logits.new_tensor(self.config.score_offsets)
        return logits.sigmoid()

    def set_feature_stats(self, modality: str, mean: Tensor, std: Tensor) -> None:
        """Store the training set's feature mean/std [D] of one modality; inputs are normalised with them."""
        getattr(self, f"{modality}_mean").copy_(torch.as_tensor(mean, dtype=torch.float32))
        getattr(self, f"{modality}_std").copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-6))

    def forward(self, text: Tensor, audio: Tensor, visual: Tensor, text_mask: Tensor | None = None,
                audio_mask: Tensor | None = None, visual_mask: Tensor | None = None,
                return_attention: bool = False) -> TailorOutput:
        """text [B,Lt,Dt], audio [B,La,Da], visual [B,Lv,Dv] raw features; masks [B,L*] bool (True = valid,
        default all valid). Returns scores [B,N] and, when asked, the decoder attention [B,N,heads,L_pc]."""
        cfg = self.config
        inputs = {"text": text, "audio": audio, "visual": visual}
        longest = max(x.shape[1] for x in inputs.values())
        if cfg.aligned and longest > cfg.max_positions:
            raise ValueError(f"inputs of {longest} steps exceed this model's {cfg.max_positions} positions: "
                             "score long inputs in windows")
        if cfg.aligned and not (text.shape[:2] == audio.shape[:2] == visual.shape[:2]):
            # Checked before any work: the common representation sums the modalities step by step.
            raise ValueError("aligned inputs must have the same batch and sequence length, got text "
                             f"{tuple(text.shape)}, audio {tuple(audio.shape)}, visual {tuple(visual.shape)}")
        if cfg.fusion_positions == "concat":
            pc_len = (2 * text.shape[1] + audio.shape[1] + visual.shape[1] if cfg.aligned else 4 * text.shape[1])
            if pc_len > cfg.max_positions:
                raise ValueError(f"fusion_positions 'concat' needs {pc_len} positions for these inputs, this "
                                 f"model has {cfg.max_positions}")
        given = {"text": text_mask, "audio": audio_mask, "visual": visual_mask}
        masks, ctc_log_probs = {}, {}
        for m in MODALITIES:
            x = inputs[m].float()
            x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)  # MOSEI's COVAREP has -inf
            x = (x - getattr(self, f"{m}_mean")) / getattr(self, f"{m}_std")
            mask = given[m]
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()
            if m in self.ctc:  # unaligned: pseudo-align to text length (mask becomes the text mask's length)
                x, ctc_log_probs[m] = self.ctc[m](x * mask[..., None])
                mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) & mask.any(-1, keepdim=True)
            inputs[m], masks[m] = x, mask

        encoded = {m: self.encoders[m]([inputs[m]], [masks[m]])[0] for m in MODALITIES}
        private = {m: self.private[m](encoded[m]) for m in MODALITIES}
        common = {m: self.common(encoded[m]) for m in MODALITIES}
        # Common feature = sum of the modalities' common sequences; absent (masked) steps add nothing.
        common_sum = sum(common[m] * masks[m][..., None] for m in MODALITIES)
        common_mask = masks["text"] | masks["audio"] | masks["visual"]

        # Each modality keeps its own positions (step t of every stream shares position t); token types tell
        # the two inputs of a stage apart.
        la = masks["audio"].shape[1]
        lt = masks["text"].shape[1]
        va, _ = self.fuse_va([private["audio"], private["visual"]], [masks["audio"], masks["visual"]])
        vat, _ = self.fuse_vat([private["text"], va[:, :la], va[:, la:]],
                               [masks["text"], masks["audio"], masks["visual"]], token_types=[0, 1, 1])
        pc, pc_mask = self.fuse_pc([vat[:, :lt], vat[:, lt:lt + la], vat[:, lt + la:], common_sum],
                                   [masks["text"], masks["audio"], masks["visual"], common_mask],
                                   token_types=[0, 0, 0, 1])

        # Dropout after the expand: each example draws its own mask over the label queries, as the authors' decoder
        # embeddings do (one mask shared by the whole batch made every step's decoder gradient far noisier).
        q = self.label_drop(self.label_norm(self.label_embedding.weight).expand(pc.shape[0], -1, -1))
        label_mask = torch.ones(q.shape[:2], dtype=torch.bool, device=q.device)
        attention = None
        for block in self.decoder:
            q, attention = block(q, label_mask, pc, pc_mask, need_weights=return_attention)
        # The authors drop out the logits themselves (Linear → Dropout → Sigmoid); identity when not training.
        logits = F.dropout(self.classifier(q).squeeze(-1), cfg.classifier_dropout, self.training)
        if cfg.common_pool == "mean":  # mean over steps where some modality is present
            weight = common_mask[..., None].to(common_sum.dtype)
            pooled = (common_sum * weight).sum(1) / weight.sum(1).clamp_min(1.0)
        else:  # the paper's code: step 0, whatever is (or is not) there
            pooled = common_sum[:, 0]
        common_logits = F.dropout(self.common_classifier(pooled), cfg.classifier_dropout, self.training)

        return TailorOutput(
            logits=logits, scores=self.calibrated(logits), common_logits=common_logits,
            attention=attention.transpose(1, 2) if attention is not None else None,
            private=private, common=common, masks=masks,
            discriminator_private={m: self.discriminator(private[m]) for m in MODALITIES},
            discriminator_common={m: self.discriminator(grad_reverse(common[m], cfg.grl_lambda))
                                  for m in MODALITIES},
            ctc_log_probs=ctc_log_probs,
        )

    # ------------------------------------------------------------------------------------------------------
    # Checkpoints: config.json + model.safetensors, loaded strictly, never unpickled.

    def save_pretrained(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_NAME)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt", "model": "TAILOR"})
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> TAILOR:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} is not a TAILOR checkpoint: it needs {CONFIG_NAME} and "
                                    f"{WEIGHTS_NAME}")
        model = cls(TailorConfig.load(directory / CONFIG_NAME))
        try:
            state = load_file(str(directory / WEIGHTS_NAME))
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"cannot read {directory / WEIGHTS_NAME}: {e}") from None
        expected = model.state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        wrong = [k for k in expected.keys() & state.keys() if expected[k].shape != state[k].shape]
        if missing or unexpected or wrong:
            raise ValueError(
                f"{directory / WEIGHTS_NAME} does not match its {CONFIG_NAME}: "
                f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                f"(e.g. {unexpected[:3]}), {len(wrong)} with another shape (e.g. {sorted(wrong)[:3]})")
        model.load_state_dict(state, strict=True)
        return model.to(device).eval()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
