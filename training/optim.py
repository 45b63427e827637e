"""Optimisation as the TAILOR authors trained: their ``BertAdam`` semantics, their warm-up schedule, their
weight-decay groups. Written from the update rule (the BERT reference optimiser), not copied.

``BertAdam`` differs from ``torch.optim.AdamW`` in three ways that change learning:

* **no bias correction**: the update is ``m / (sqrt(v) + eps)`` with the raw moving averages, i.e. AdamW's step
  times ``(1-β1^t) / sqrt(1-β2^t)``: with β=(0.9, 0.999) 3.2× at step 1, 6.5× at step 10, 3.2× at 100, 2× at 300,
  1.26× at 1000, ~1× after 3000. A short run (the generated files: 6-12 steps an epoch; MOSEI: ~255) trains at
  several times AdamW's effective learning rate for the same ``lr``; a long one hardly differs;
* ``eps`` 1e-6 (AdamW's default 1e-8), added to ``sqrt(v)``;
* each parameter's gradient is clipped to norm ``max_grad_norm`` on its own (a no-op when the whole gradient has
  already been clipped to the same norm, as the training loop does).

Weight decay is decoupled as in AdamW: ``p ← p - lr·(update + wd·p)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


class BertAdam(torch.optim.Optimizer):
    """Adam without bias correction, per-parameter gradient clipping and decoupled weight decay.

    The learning rate is the group's ``lr`` as is: schedule it with a ``LambdaLR`` (``warmup_linear`` below
    reproduces the authors' ``warmup_linear``). State per parameter: ``step`` (int), ``exp_avg`` and
    ``exp_avg_sq`` (same shape as the parameter).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 5e-5,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.01,
                 max_grad_norm: float = 1.0):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      max_grad_norm=max_grad_norm))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("BertAdam does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                if group["max_grad_norm"] > 0:
                    # torch.nn.utils.clip_grad_norm_ on this one tensor: scale by max/(norm+1e-6), never up.
                    scale = (group["max_grad_norm"] / (grad.norm() + 1e-6)).clamp(max=1.0)
                    grad = grad * scale
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                update = exp_avg / (exp_avg_sq.sqrt() + group["eps"])  # no bias correction, on purpose
                if group["weight_decay"] > 0:
                    update = update + group["weight_decay"] * p
                p.add_(update, alpha=-group["lr"])
                state["step"] += 1
        return loss


def warmup_linear(step: int, total_steps: int, warmup: float) -> float:
    """The authors' schedule as a learning-rate factor for optimiser step ``step`` (0-based).

    Linear from 0 (the very first step has lr 0) to 1 over the first ``warmup`` fraction of ``total_steps``,
    then linear down to 0 at ``total_steps``.
    """
    x = step / max(1, total_steps)
    if x < warmup:
        return x / warmup
    return max((1.0 - x) / (1.0 - warmup), 0.0) if warmup < 1 else 0.0


def warmup_linear_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup: float
                            ) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` applying ``warmup_linear``; call ``scheduler.step()`` after each ``optimizer.step()``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_linear(step, total_steps, warmup))


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: weights decayed, biases and LayerNorm parameters not.

    This is what the authors' ``no_decay = ['bias', 'LayerNorm.bias', 'LayerNorm.weight']`` list means (and what
    ``run_authors.py`` uses); their train.py swaps the two flags (decays exactly those, spares the rest), which we
    take for a slip. Chosen by module type, not by name, so it holds for our module names.
    """
    no_decay: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, nn.LayerNorm) or "bias" in name:  # LSTM: bias_ih_l0 ...
                no_decay.add(id(p))
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if id(p) not in no_decay], "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0}]


OPTIMIZERS = ("bertadam", "adamw")


def make_optimizer(name: str, model: nn.Module, lr: float, weight_decay: float,
                   max_grad_norm: float = 1.0) -> torch.optim.Optimizer:
    """``bertadam`` (the authors' semantics) or ``adamw`` (torch's, eps 1e-8, bias-corrected); same groups."""
    groups = decay_groups(model, weight_decay)
    if name == "bertadam":
        return BertAdam(groups, lr=lr, weight_decay=weight_decay, max_grad_norm=max_grad_norm)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: choose one of {OPTIMIZERS}")
