"""Each loss term, and the metrics against scikit-learn."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, hamming_loss, jaccard_score, precision_score, recall_score

from tailor_core import TAILOR, TailorConfig
from tailor_core.training.losses import discriminator_loss, orthogonality, tailor_loss
from tailor_core.training.metrics import multilabel_metrics, tune_thresholds


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
    flat = torch.cat([logits["text"].reshape(-1, 3), logits["audio"][0], logits["visual"].reshape(-1, 3)])
    target = torch.tensor([0] * 6 + [1] * 3 + [2] * 6)
    torch.testing.assert_close(discriminator_loss(logits, masks), F.cross_entropy(flat, target))


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
