"""Each loss term, and the metrics against scikit-learn."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, hamming_loss, jaccard_score, precision_score, recall_score

from tailor_core import TAILOR, TailorConfig
from tailor_core.model import TailorOutput
from training.losses import discriminator_loss, orthogonality, tailor_loss
from training.metrics import micro_f1_interval, multilabel_metrics, neutral_as_label, tune_thresholds


@pytest.fixture
def batch():
    cfg = TailorConfig.debug()
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(4, 8, cfg.text_dim, generator=g), torch.randn(4, 8, cfg.audio_dim, generator=g),
         torch.randn(4, 8, cfg.visual_dim, generator=g))
    y = (torch.rand(4, 6, generator=g) > 0.6).float()
    return cfg, TAILOR(cfg), x, y


def test_total_is_the_weighted_sum_of_terms(batch):
    cfg, model, x, y = batch
    out = model(*x)
    terms = tailor_loss(out, y, cfg)
    expected = (terms.label + 0.5 * terms.common + 0.01 * terms.adversarial + 5e-6 * terms.orthogonal
                + 0.5 * terms.ctc)
    torch.testing.assert_close(terms.total, expected)
    torch.testing.assert_close(terms.label, F.binary_cross_entropy(out.scores, y))
    torch.testing.assert_close(terms.common, F.binary_cross_entropy(out.common_logits.sigmoid(), y))
    assert terms.ctc == 0  # aligned: no CTC
    # Weights come from the config.
    cfg2 = TailorConfig.debug(common_loss_weight=0.0, adversarial_loss_weight=0.0, orthogonal_loss_weight=0.0)
    torch.testing.assert_close(tailor_loss(out, y, cfg2).total, terms.label)


def test_discriminator_loss_is_cross_entropy_over_valid_steps():
    logits = {m: torch.randn(2, 3, 3) for m in ("text", "audio", "visual")}
    masks = {m: torch.ones(2, 3, dtype=torch.bool) for m in logits}
    masks["audio"][1] = False
    # The authors' reduction: one mean per modality over its valid steps, summed over modalities.
    expected = (F.cross_entropy(logits["text"].reshape(-1, 3), torch.zeros(6, dtype=torch.long))
                + F.cross_entropy(logits["audio"][0], torch.ones(3, dtype=torch.long))
                + F.cross_entropy(logits["visual"].reshape(-1, 3), torch.full((6,), 2)))
    torch.testing.assert_close(discriminator_loss(logits, masks), expected)


def test_loss_terms_match_a_hand_computation():
    """B=1, one step, H=2: every term worked out by hand."""
    t = torch.tensor
    zeros = t([[[0.0, 0.0, 0.0]]])
    out = TailorOutput(
        logits=t([[0.0, 1.0] + [-30.0] * 4]), scores=t([[0.5, 0.0] + [0.0] * 4]),
        common_logits=t([[2.0, -2.0] + [-30.0] * 4]),
        private={"text": t([[[1.0, 0.0]]]), "audio": t([[[1.0, 1.0]]]), "visual": t([[[0.0, 2.0]]])},
        common={"text": t([[[2.0, 0.0]]]), "audio": t([[[0.0, 1.0]]]), "visual": t([[[1.0, 1.0]]])},
        masks={m: torch.ones(1, 1, dtype=torch.bool) for m in ("text", "audio", "visual")},
        discriminator_private={"text": t([[[math.log(2.0), 0.0, 0.0]]]), "audio": zeros, "visual": zeros},
        discriminator_common={"text": zeros, "audio": zeros, "visual": zeros})
    y = t([[0.0, 1.0, 0, 0, 0, 0]])
    terms = tailor_loss(out, y, TailorConfig.debug())
    sp = lambda x: math.log1p(math.exp(x))  # softplus: BCE of logit x with target 0 is sp(x), target 1 sp(-x)
    label = (sp(0.0) + sp(-1.0) + 4 * sp(-30.0)) / 6
    common = (sp(2.0) + sp(2.0) + 4 * sp(-30.0)) / 6
    # text private: softmax [2,1,1]/4 → -log(1/2); every other step uniform → log 3; summed over modalities.
    adversarial = math.log(2.0) + 5 * math.log(3.0)
    # <pt,pa>²=1, <pt,pv>²=0, <pa,pv>²=4; <ct,pt>²=4, <ca,pa>²=1, <cv,pv>²=4.
    orthogonal = 14.0
    assert terms.label.item() == pytest.approx(label, rel=1e-5)
    assert terms.common.item() == pytest.approx(common, rel=1e-5)
    assert terms.adversarial.item() == pytest.approx(adversarial, rel=1e-5)
    assert terms.orthogonal.item() == pytest.approx(orthogonal, rel=1e-5)
    assert terms.ctc.item() == 0.0
    total = label + 0.5 * common + 0.01 * adversarial + 5e-6 * orthogonal
    assert terms.total.item() == pytest.approx(total, rel=1e-5)


def test_orthogonality_is_squared_frobenius_of_abt():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    ones3, ones5 = torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 5, dtype=torch.bool)
    expected = torch.stack([torch.linalg.matrix_norm(a[i] @ b[i].T) ** 2 for i in range(2)]).mean()
    torch.testing.assert_close(orthogonality(a, b, ones3, ones5), expected)
    q = torch.linalg.qr(torch.randn(4, 4))[0]  # orthogonal rows → zero loss
    x, y = q[:2][None], q[2:][None]
    assert orthogonality(x, y, torch.ones(1, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)) < 1e-10


def test_ctc_term_in_unaligned_setting():
    cfg = TailorConfig.debug(aligned=False, text_len=4, audio_len=12, visual_len=12)
    model = TAILOR(cfg)
    x = (torch.randn(2, 4, cfg.text_dim), torch.randn(2, 12, cfg.audio_dim), torch.randn(2, 12, cfg.visual_dim))
    terms = tailor_loss(model(*x), torch.zeros(2, 6), cfg)
    assert terms.ctc > 0 and torch.isfinite(terms.total)
    terms.total.backward()
    assert model.ctc["audio"].lstm.weight_ih_l0.grad.abs().sum() > 0


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    t = rng.random((200, 6)) > 0.7
    p = rng.random((200, 6)) > 0.6
    t[:5] = False
    p[:5] = False  # both empty → accuracy 1 for those samples
    m = multilabel_metrics(t, p)
    assert m["micro_f1"] == pytest.approx(f1_score(t, p, average="micro", zero_division=0))
    assert m["macro_f1"] == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
    assert m["micro_precision"] == pytest.approx(precision_score(t, p, average="micro", zero_division=0))
    assert m["macro_recall"] == pytest.approx(recall_score(t, p, average="macro", zero_division=0))
    assert m["macro_precision"] == pytest.approx(precision_score(t, p, average="macro", zero_division=0))
    assert m["micro_recall"] == pytest.approx(recall_score(t, p, average="micro", zero_division=0))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(t, p))
    assert m["accuracy"] == pytest.approx(jaccard_score(t, p, average="samples", zero_division=1))
    per = f1_score(t, p, average=None, zero_division=0)
    assert list(m["per_label_f1"].values()) == pytest.approx(list(per))


def test_threshold_tuning_finds_the_separating_value():
    y = np.array([[1], [1], [0], [0]] * 10)
    s = np.array([[0.7], [0.8], [0.6], [0.1]] * 10)
    assert tune_thresholds(y, s) == [pytest.approx(0.65)]


def test_micro_f1_interval_holds_the_estimate_and_narrows_with_more_examples():
    rng = np.random.default_rng(3)
    y = rng.random((400, 6)) < 0.3
    pred = np.where(rng.random(y.shape) < 0.8, y, ~y)  # 20% of the cells flipped
    f1 = multilabel_metrics(y, pred)["micro_f1"]
    lo, hi = micro_f1_interval(y, pred)
    assert lo < f1 < hi and 0.02 < hi - lo < 0.2
    assert micro_f1_interval(y, pred) == (lo, hi)  # seeded: a report can be re-run
    big_lo, big_hi = micro_f1_interval(np.tile(y, (16, 1)), np.tile(pred, (16, 1)))
    assert big_hi - big_lo < (hi - lo) / 2  # 16x the examples: about a quarter of the width
    assert micro_f1_interval(y, y) == (1.0, 1.0)
    with pytest.raises(ValueError):
        micro_f1_interval(y, pred[:10])


def test_neutral_counts_examples_with_no_label_as_a_seventh_label():
    # rows: happy right; nothing, rightly; nothing where sad was true; sad where there was nothing
    y = np.array([[1, 0, 0, 0, 0, 0], [0] * 6, [0, 1, 0, 0, 0, 0], [0] * 6])
    p = np.array([[1, 0, 0, 0, 0, 0], [0] * 6, [0] * 6, [0, 1, 0, 0, 0, 0]])
    m = neutral_as_label(y, p)
    # neutral: true on rows 1 and 3, predicted on rows 1 and 2 -> tp 1, fp 1, fn 1 -> F1 0.5
    assert m["per_label_f1"]["neutral"] == pytest.approx(0.5)
    assert m["per_label_f1"]["happy"] == 1.0 and m["per_label_f1"]["sad"] == 0.0
    assert m["macro_f1"] == pytest.approx((1.0 + 0.0 + 0.5) / 7)  # labels never true nor predicted count 0
    six = multilabel_metrics(y, p)
    assert six["macro_f1"] == pytest.approx(1.0 / 6)
