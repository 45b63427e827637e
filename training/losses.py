"""TAILOR's training objective; every weight comes from the ``TailorConfig``.

    L = BCE(labels) + w_common·BCE(common classifier) + w_adv·Σ_m(CE_disc(private_m) + CE_disc(reversed common_m))
        + w_orth·Σ‖A·Bᵀ‖²_F + w_ctc·CTC   (CTC only in the unaligned setting)

Reductions follow the authors' code: BCE means over batch × labels, each discriminator term the mean over one
modality's steps (summed over the three modalities), each orthogonality term the batch mean of the squared
Frobenius norm. BCE is computed from logits (numerically safer than their sigmoid + BCELoss; same value).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tailor_core.config import MODALITIES, TailorConfig
from tailor_core.model import TailorOutput


@dataclass
class LossTerms:
    total: Tensor
    label: Tensor
    common: Tensor
    adversarial: Tensor
    orthogonal: Tensor
    ctc: Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in vars(self).items()}


def label_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy per label; logits, targets [B,N]."""
    return F.binary_cross_entropy_with_logits(logits, targets.float())


def discriminator_loss(logits: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
    """Modality discriminator cross-entropy: per modality the mean over its valid steps, summed over modalities
    (the authors' reduction: three ``CrossEntropyLoss()`` means added). logits[m] [B,L,3], masks[m] [B,L]."""
    total = logits[MODALITIES[0]].sum() * 0.0  # a zero that keeps the graph when nothing is valid
    for index, m in enumerate(MODALITIES):
        valid = masks[m]
        if valid.any():
            step_logits = logits[m][valid]  # [n,3]
            target = torch.full((step_logits.shape[0],), index, device=step_logits.device)
            total = total + F.cross_entropy(step_logits, target)
    return total


def orthogonality(a: Tensor, b: Tensor, mask_a: Tensor, mask_b: Tensor) -> Tensor:
    """Squared Frobenius norm of A·Bᵀ per sample, batch mean; A [B,La,H], B [B,Lb,H], masks zero padding."""
    a = a * mask_a[..., None]
    b = b * mask_b[..., None]
    return (a @ b.transpose(1, 2)).pow(2).sum(dim=(1, 2)).mean()


def orthogonal_loss(out: TailorOutput) -> Tensor:
    """Each pair of private sequences, and each modality's common vs private."""
    p, c, mk = out.private, out.common, out.masks
    pairs = [("text", "audio"), ("text", "visual"), ("audio", "visual")]
    loss = sum(orthogonality(p[x], p[y], mk[x], mk[y]) for x, y in pairs)
    return loss + sum(orthogonality(c[m], p[m], mk[m], mk[m]) for m in MODALITIES)


def ctc_loss(out: TailorOutput, text_len: int) -> Tensor:
    """MulT's CTC target: every source stream should walk through text positions 1..Lt in order."""
    if not out.ctc_log_probs:
        return out.logits.sum() * 0.0
    total = 0.0
    for log_probs in out.ctc_log_probs.values():  # [B,Ls,Lt+1]
        B, Ls, _ = log_probs.shape
        targets = torch.arange(1, text_len + 1, device=log_probs.device).repeat(B, 1)
        total = total + F.ctc_loss(
            log_probs.transpose(0, 1), targets,
            input_lengths=torch.full((B,), Ls, dtype=torch.long),
            target_lengths=torch.full((B,), text_len, dtype=torch.long), zero_infinity=True)
    return total


def tailor_loss(out: TailorOutput, targets: Tensor, cfg: TailorConfig) -> LossTerms:
    """All terms of the objective for a batch; targets [B,N] in {0,1}."""
    label = label_loss(out.logits, targets)
    common = label_loss(out.common_logits, targets)
    adversarial = (discriminator_loss(out.discriminator_private, out.masks)
                   + discriminator_loss(out.discriminator_common, out.masks))
    orthogonal = orthogonal_loss(out)
    ctc = ctc_loss(out, cfg.text_len)
    total = (label + cfg.common_loss_weight * common + cfg.adversarial_loss_weight * adversarial
             + cfg.orthogonal_loss_weight * orthogonal + cfg.ctc_loss_weight * ctc)
    return LossTerms(total, label, common, adversarial, orthogonal, ctc)
