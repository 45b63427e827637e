"""The authors' optimiser semantics (BertAdam), their warm-up schedule and the weight-decay groups."""

import math

import pytest
import torch

from tailor_core import TAILOR, TailorConfig
from training.optim import BertAdam, decay_groups, make_optimizer, warmup_linear


def test_bertadam_step_matches_a_hand_computation():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = BertAdam([p], lr=0.1, weight_decay=0.01, max_grad_norm=1.0)
    b1, b2, eps = 0.9, 0.999, 1e-6
    w, m, v = [1.0, -2.0], [0.0, 0.0], [0.0, 0.0]
    for g in ([0.5, 0.1], [-0.2, 0.3]):  # norms < 1: no clipping
        p.grad = torch.tensor(g)
        opt.step()
        for i in range(2):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            # No bias correction: the raw averages, eps outside the root, decay added to the update.
            w[i] -= 0.1 * (m[i] / (math.sqrt(v[i]) + eps) + 0.01 * w[i])
        torch.testing.assert_close(p.detach(), torch.tensor(w), rtol=1e-6, atol=1e-6)
    # Without bias correction the first step is ~3.16x AdamW's at the same lr.
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    adamw, bert = torch.optim.AdamW([a], lr=0.01, weight_decay=0.0), BertAdam([b], lr=0.01, weight_decay=0.0)
    a.grad, b.grad = torch.tensor([0.5]), torch.tensor([0.5])
    adamw.step()
    bert.step()
    assert (1 - b.item()) / (1 - a.item()) == pytest.approx(math.sqrt(1000) / 10, rel=1e-3)


def test_bertadam_clips_each_parameter_on_its_own():
    p = torch.nn.Parameter(torch.zeros(2))
    q = torch.nn.Parameter(torch.zeros(1))
    opt = BertAdam([p, q], lr=1.0, weight_decay=0.0, max_grad_norm=1.0)
    p.grad, q.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.5])  # |g_p| = 5 → scaled to norm 1
    opt.step()
    torch.testing.assert_close(opt.state[p]["exp_avg"], 0.1 * torch.tensor([3.0, 4.0]) / (5 + 1e-6))
    torch.testing.assert_close(opt.state[q]["exp_avg"], torch.tensor([0.05]))  # untouched


def test_warmup_linear_is_the_authors_schedule():
    # total 10 steps, 10% warm-up: lr 0 at the first step, peak at step 1, then linear to 0 at step 10.
    assert [round(warmup_linear(s, 10, 0.1), 4) for s in (0, 1, 2, 5, 10, 11)] == [0.0, 1.0, 0.8889, 0.5556, 0.0, 0.0]
    assert warmup_linear(3, 100, 0.1) == pytest.approx(0.3)


def test_no_decay_on_biases_and_layernorm():
    model = TAILOR(TailorConfig.debug())
    decayed, spared = decay_groups(model, 0.01)
    assert decayed["weight_decay"] == 0.01 and spared["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    spared_names = {names[id(p)] for p in spared["params"]}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    assert "label_norm.weight" in spared_names and "classifier.bias" in spared_names
    assert "encoders.text.project.0.weight" in spared_names  # the input LayerNorm
    assert "classifier.weight" in decayed_names and "label_embedding.weight" in decayed_names
    assert len(spared_names) + len(decayed_names) == len(names)
    assert isinstance(make_optimizer("adamw", model, 1e-3, 0.01), torch.optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("sgd", model, 1e-3, 0.01)
