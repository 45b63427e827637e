"""Platt scaling and ECE: hand-checked values, synthetic overconfident and biased models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tailor_core import TAILOR, TailorConfig
from tailor_core.training.calibrate import expected_calibration_error, fit_platt


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


def _split(cfg: TailorConfig, n: int, present: tuple[str, ...], seed: int) -> dict[str, np.ndarray]:
    """``n`` random examples over 8 steps where only the modalities ``present`` are found (steps 0-2)."""
    rng = np.random.default_rng(seed)
    out = {"labels": (rng.random((n, 6)) < 0.3).astype(np.float32)}
    for m, d in zip(("text", "audio", "visual"), (cfg.text_dim, cfg.audio_dim, cfg.visual_dim)):
        mask = np.zeros((n, 8), bool)
        mask[:, :3] = m in present
        # a weak signal: the first label moves the present modality's features
        out[m] = (rng.normal(size=(n, 8, d)) + 2 * out["labels"][:, :1, None] * mask[..., None]).astype(np.float32)
        out[f"{m}_mask"] = mask
    return out


def test_a_modality_alone_gets_its_own_thresholds_only_with_enough_items(tmp_path):
    """finish_checkpoint tunes a modality's own thresholds on its items alone where it has SINGLE_MIN_ITEMS; the
    config gives them to an input where only that modality is present, and the mixed ones otherwise."""
    from tailor_core.training.calibrate import SINGLE_MIN_ITEMS, finish_checkpoint, load_single
    from tailor_core.training.data import DataError, load_npz

    cfg = TailorConfig.debug()
    torch.manual_seed(0)
    model = TAILOR(cfg).eval()
    parts = {"mixed": ({"valid": 60, "test": 60}, ("text", "audio", "visual")),
             "eval_text": ({"valid": SINGLE_MIN_ITEMS, "test": 20}, ("text",)),
             "eval_audio": ({"valid": 50, "test": 20}, ("audio",))}
    for i, (name, (sizes, present)) in enumerate(parts.items()):
        np.savez(tmp_path / f"{name}.npz", **{f"{s}/{k}": v for j, (s, n) in enumerate(sizes.items())
                                              for k, v in _split(cfg, n, present, 10 * i + j).items()})
    single = load_single(tmp_path)
    assert sorted(single) == ["audio", "text"] and len(single["text"]) == SINGLE_MIN_ITEMS
    metrics = finish_checkpoint(model, load_npz(tmp_path / "mixed.npz", ("valid", "test")), tmp_path,
                                calibrate=True, tune=True, tune_on="summary", single=single)
    assert metrics["single_thresholds"] == {"text": {"validation_items": SINGLE_MIN_ITEMS, "own": True},
                                            "audio": {"validation_items": 50, "own": False}}
    saved = TailorConfig.load(tmp_path / "config.json")
    assert list(saved.single_thresholds) == ["text"] and len(saved.single_thresholds["text"]) == 6
    assert saved.label_thresholds(("text",)) == saved.single_thresholds["text"]
    for present in (None, ("audio",), ("text", "visual")):
        assert saved.label_thresholds(present) == saved.thresholds
    # re-tuning without single items drops stale own thresholds (they were fitted to the old calibration)
    finish_checkpoint(model, load_npz(tmp_path / "mixed.npz", ("valid", "test")), tmp_path, True, True)
    assert TailorConfig.load(tmp_path / "config.json").single_thresholds == {}
    # a file from an older prepare_demo (no validation items), a folder without any: clear errors
    np.savez(tmp_path / "eval_visual.npz", **{f"test/{k}": v for k, v in _split(cfg, 5, ("visual",), 9).items()})
    with pytest.raises(DataError, match="re-run"):
        load_single(tmp_path)
    with pytest.raises(DataError, match="no eval_"):
        load_single(tmp_path / "nowhere")
    # the commands say so and stop, before any work (train: before training)
    from tailor_core.training import calibrate, train

    model.save_pretrained(tmp_path / "ckpt")
    mixed = str(tmp_path / "mixed.npz")
    assert calibrate.main(["--checkpoint", str(tmp_path / "ckpt"), "--data", mixed, "--single", "nowhere"]) == 2
    assert train.main(["--data", mixed, "--output", str(tmp_path / "run"), "--single", str(tmp_path)]) == 2
    with pytest.raises(ValueError, match="single_thresholds"):
        TailorConfig.debug(single_thresholds={"words": [0.5] * 6})
    with pytest.raises(ValueError, match="single_thresholds"):
        TailorConfig.debug(single_thresholds={"text": [0.5]})
