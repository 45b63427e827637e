"""Temperature scaling and ECE: hand-checked values and a synthetic overconfident model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tailor_core import TAILOR, TailorConfig
from tailor_core.training.calibrate import expected_calibration_error, fit_temperatures


def test_ece_by_hand():
    y = np.array([[1], [0], [1], [1]], float)
    s = np.array([[0.95], [0.92], [0.15], [0.05]])
    # bins: [0.9, 1.0) holds 0.95, 0.92 -> mean score 0.935, rate 0.5; [0.1, 0.2) holds 0.15 -> |0.15-1|;
    # [0.0, 0.1) holds 0.05 -> |0.05-1|
    expected = 0.5 * abs(0.935 - 0.5) + 0.25 * 0.85 + 0.25 * 0.95
    assert expected_calibration_error(y, s)[0] == pytest.approx(expected)


def test_temperature_fixes_an_overconfident_model():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 1.5, size=(20000, 2))
    y = (rng.random(true_logit.shape) < 1 / (1 + np.exp(-true_logit))).astype(float)
    overconfident = true_logit * 4.0  # what an overfit model outputs
    before = expected_calibration_error(y, 1 / (1 + np.exp(-overconfident)))
    temps = fit_temperatures(overconfident, y)
    assert temps == pytest.approx([4.0, 4.0], rel=0.1)
    after = expected_calibration_error(y, 1 / (1 + np.exp(-overconfident / np.array(temps))))
    assert max(after) < 0.02 < min(before)


def test_model_applies_config_temperatures():
    cfg = TailorConfig.debug()
    model = TAILOR(cfg).eval()
    hot = TAILOR(TailorConfig.debug(temperatures=[2.0] * 6)).eval()
    hot.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(0)
    x = [torch.randn(2, 8, d, generator=g) for d in (cfg.text_dim, cfg.audio_dim, cfg.visual_dim)]
    a, b = model(*x), hot(*x)
    torch.testing.assert_close(b.logits, a.logits)
    torch.testing.assert_close(b.scores, (a.logits / 2).sigmoid())
    with pytest.raises(ValueError, match="temperatures"):
        TailorConfig.debug(temperatures=[1.0, -1.0, 1, 1, 1, 1])
