"""Platt scaling and ECE: hand-checked values, synthetic overconfident and biased models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tailor_core import TAILOR, TailorConfig
from training.calibrate import expected_calibration_error, fit_platt


def test_ece_by_hand():
    y = np.array([[1], [0], [1], [1]], float)
    s = np.array([[0.95], [0.92], [0.15], [0.05]])
    # bins: [0.9, 1.0) holds 0.95, 0.92 -> mean score 0.935, rate 0.5; [0.1, 0.2) holds 0.15 -> |0.15-1|;
    # [0.0, 0.1) holds 0.05 -> |0.05-1|
    expected = 0.5 * abs(0.935 - 0.5) + 0.25 * 0.85 + 0.25 * 0.95
    assert expected_calibration_error(y, s)[0] == pytest.approx(expected)


def _labels(true_logit: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.random(true_logit.shape) < 1 / (1 + np.exp(-true_logit))).astype(float)


@pytest.mark.parametrize("scale, shift", [(4.0, 0.0), (1.0, 1.5), (2.0, -1.0)])
def test_platt_fixes_an_overconfident_or_biased_model(scale: float, shift: float):
    """An overfit model (logits x4) needs T = 4; one that over-reads a label (+1.5) needs b = -1.5; both: both."""
    true_logit = np.random.default_rng(0).normal(0, 1.5, size=(20000, 2))
    y = _labels(true_logit)
    seen = true_logit * scale + shift
    before = expected_calibration_error(y, 1 / (1 + np.exp(-seen)))
    temps, offsets = fit_platt(seen, y)
    assert temps == pytest.approx([scale, scale], rel=0.1)
    assert offsets == pytest.approx([-shift / scale] * 2, abs=0.1)
    after = expected_calibration_error(y, 1 / (1 + np.exp(-(seen / np.array(temps) + np.array(offsets)))))
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
    shifted = TAILOR(TailorConfig.debug(temperatures=[2.0] * 6, score_offsets=[-1.0] * 6)).eval()
    shifted.load_state_dict(model.state_dict())
    torch.testing.assert_close(shifted(*x).scores, (a.logits / 2 - 1).sigmoid())
    with pytest.raises(ValueError, match="temperatures"):
        TailorConfig.debug(temperatures=[1.0, -1.0, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="score_offsets"):
        TailorConfig.debug(score_offsets=[0.0])
