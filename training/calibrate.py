"""Calibration: per-label Platt scaling, the expected calibration error (ECE) that measures it, and the step that
finishes a trained checkpoint (calibrate, tune thresholds, test).

A label's score is ``sigmoid(logit / T + b)``; ``T`` and ``b`` are fitted on validation data to minimise that
label's binary cross-entropy (Platt scaling; a convex problem in ``1/T`` and ``b``, solved by Newton's method).
``T > 1`` softens overconfident scores; ``b`` removes a label's systematic over- or under-estimate (measured on the
demo model: "happy" read 0.45 where 16% of the examples were happy, which no temperature alone can fix). The
ranking, hence AUC, is unchanged; thresholds are tuned on the calibrated scores afterwards.

Calibration is always fitted on one pass over each validation example. Thresholds are tuned on validation either
on that one pass (``--tune-on one-pass``, the paper's evaluation) or on what the app shows (``--tune-on summary``,
the demo checkpoint): the weighted mean of the example's timeline windows (``evaluate.summary_scores``). Fitting
the calibration on those windows instead (each labelled with its example's labels) was tried and made the summary's
ECE and F1 worse (ECE up to 0.063, micro-F1 0.736 vs 0.745).

Re-calibrate a trained checkpoint in place (also re-tunes its thresholds and rewrites ``metrics.json``)::

    python -m training.calibrate --checkpoint runs/demo --data cache/demo.npz --tune-on summary
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
TUNE_ON = ("one-pass", "summary")  # what thresholds are tuned on (see the module docstring)
L2: float = 1e-4  # pulls (1/T, b) towards (1, 0) so a label with no positives stays finite


def _platt_loss(x: np.ndarray, y: np.ndarray, w: float, b: float) -> float:
    z = w * x + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * L2 * ((w - 1) ** 2 + b ** 2))


def fit_platt(logits: np.ndarray, labels: np.ndarray, iterations: int = 100) -> tuple[list[float], list[float]]:
    """Per-label (temperatures [L], offsets [L]) minimising BCE of ``sigmoid(logit / T + b)`` against ``labels``
    (both [N, L]): damped Newton steps (halved until the loss falls) from T = 1, b = 0."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    temps, offsets = [], []
    for j in range(logits.shape[1]):
        x, y = logits[:, j], labels[:, j]
        w, b = 1.0, 0.0
        loss = _platt_loss(x, y, w, b)
        for _ in range(iterations):
            p = np.exp(-np.logaddexp(0.0, -(w * x + b)))  # sigmoid, without overflow
            r = p * (1 - p)
            grad = np.array([np.mean((p - y) * x) + L2 * (w - 1), np.mean(p - y) + L2 * b])
            hess = np.array([[np.mean(r * x * x) + L2, np.mean(r * x)], [np.mean(r * x), np.mean(r) + L2]])
            step = np.linalg.solve(hess, grad)
            for _ in range(30):  # Newton overshoots far from the optimum (large logits): halve until it helps
                new = _platt_loss(x, y, w - step[0], b - step[1])
                if new <= loss:
                    break
                step = step / 2
            w, b, done = w - step[0], b - step[1], loss - new < 1e-12
            loss = new
            if done:
                break
        temps.append(float(np.clip(1.0 / max(w, 1e-9), MIN_TEMPERATURE, MAX_TEMPERATURE)))
        offsets.append(float(b))
    return temps, offsets


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[float]:
    """Per-label ECE [L]: over ``bins`` equal-width score bins, the share-weighted |mean score - label rate|."""
    labels, scores = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for j in range(scores.shape[1]):
        s, y = scores[:, j], labels[:, j]
        which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
        err = 0.0
        for b in range(bins):
            sel = which == b
            if sel.any():
                err += sel.mean() * abs(s[sel].mean() - y[sel].mean())
        out.append(float(err))
    return out


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Uncalibrated scores: the plain sigmoid of logits (any shape)."""
    return 1.0 / (1.0 + np.exp(-logits))


def finish_checkpoint(model, splits: dict, out_dir: Path, calibrate: bool, tune: bool, batch_size: int = 256,
                      device: str = "cpu", tune_on: str = "one-pass") -> dict:
    """Calibrate on validation (optional), tune per-label thresholds on validation (optional; on ``tune_on``, one
    of ``TUNE_ON``), save ``config.json``, and return the test metrics: one pass over each example, with test ECE
    before/after calibration; with ``tune_on="summary"``, ``"summary"`` holds the app summary's test metrics and
    ECE, calibrated and not."""
    import torch

    from .evaluate import evaluate_split, predict_scores, summarise, summary_scores, summary_windows
    from .metrics import multilabel_metrics, tune_thresholds

    if tune_on not in TUNE_ON:
        raise ValueError(f"tune_on must be one of {TUNE_ON}, got {tune_on!r}")

    cfg = model.config

    def scores(logits: np.ndarray) -> np.ndarray:  # with the config's calibration as it is now
        return model.calibrated(torch.from_numpy(logits)).numpy()

    # one pass per split: calibration and thresholds are functions of the logits
    valid_logits = predict_scores(model, splits["valid"], batch_size, device, logits=True)
    calibration = {}
    if calibrate:
        test_y = splits["test"].labels.numpy()
        test_logits = predict_scores(model, splits["test"], batch_size, device, logits=True)
        raw = sigmoid(test_logits)
        cfg.temperatures, cfg.score_offsets = fit_platt(valid_logits, splits["valid"].labels.numpy())
        calibration = {"temperatures": cfg.temperatures, "offsets": cfg.score_offsets,
                       "test_ece_before": expected_calibration_error(test_y, raw),
                       "test_ece_after": expected_calibration_error(test_y, scores(test_logits))}
    if tune:
        valid_scores = (summary_scores(model, splits["valid"], device=device) if tune_on == "summary"
                        else scores(valid_logits))
        cfg.thresholds = tune_thresholds(splits["valid"].labels.numpy(), valid_scores)
    cfg.save(Path(out_dir) / "config.json")
    metrics = evaluate_split(model, splits["test"], batch_size, device)
    metrics["thresholds"] = cfg.label_thresholds()
    if tune:
        metrics["fixed_threshold"] = evaluate_split(model, splits["test"], batch_size, device,
                                                    [cfg.threshold] * cfg.num_labels)
    if calibration:
        metrics["calibration"] = calibration
    if tune_on == "summary":  # the test windows' logits, once: the summary with and without calibration
        test_y, windows = splits["test"].labels.numpy(), summary_windows(model, splits["test"], device=device)
        window_logits = windows.logits
        summary = summarise(windows, scores(window_logits), len(test_y))
        metrics["summary"] = multilabel_metrics(test_y, summary >= np.array(cfg.label_thresholds()), cfg.labels)
        metrics["summary"]["ece_uncalibrated"] = expected_calibration_error(
            test_y, summarise(windows, sigmoid(window_logits), len(test_y)))
        metrics["summary"]["ece"] = expected_calibration_error(test_y, summary)
    metrics["thresholds_tuned_on"] = tune_on if tune else None
    return metrics


def main(argv: list[str] | None = None) -> int:
    from tailor_core.model import TAILOR

    from .data import load_data, load_npz

    p = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a training run's --output (config.json is rewritten)")
    p.add_argument("--data", required=True, help="the data it was trained on (validation fits, test measures)")
    p.add_argument("--no-thresholds", action="store_true", help="keep the checkpoint's thresholds")
    p.add_argument("--tune-on", choices=TUNE_ON, default="one-pass",
                   help="tune thresholds on one pass over each example or on the app's summary of it")
    args = p.parse_args(argv)
    out = Path(args.checkpoint)
    model = TAILOR.from_pretrained(out)
    splits = load_npz(args.data, ("valid", "test")) if args.data.endswith(".npz") else load_data(args.data)
    metrics = finish_checkpoint(model, splits, out, calibrate=True, tune=not args.no_thresholds,
                                tune_on=args.tune_on)
    old = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else {}
    metrics.update({k: old[k] for k in ("best_valid_micro_f1", "parameters") if k in old})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    cal = metrics["calibration"]
    print(f"test ECE before {np.round(cal['test_ece_before'], 3).tolist()} after "
          f"{np.round(cal['test_ece_after'], 3).tolist()}; test micro-F1 {metrics['micro_f1']:.4f}"
          + (f" (one pass), {metrics['summary']['micro_f1']:.4f} (app summary)" if "summary" in metrics else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
