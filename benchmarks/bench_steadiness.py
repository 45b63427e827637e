"""How steady the timelines are: mean absolute step-to-step change of the scores on the example clips.

    python benchmarks/bench_steadiness.py [--checkpoint DIR] [--plots docs/steadiness]

For each example clip, the timeline's points (4 s windows every 1 s) are compared with their neighbours:
``mean |s_t - s_(t-1)|`` over labels and steps, and the largest single jump, for the model's raw values and for
the smoothed ones the app shows (exponential moving average, ``tailor_core.scoring.SMOOTHING_SECONDS``).
Also counts label flips (a label crossing its threshold and back within two steps). Prints a markdown table;
``--plots DIR`` also draws each clip's timeline, raw (dashed) and as shown (solid), to ``DIR/<clip>.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tailor_core.scoring import TimelinePoint  # noqa: E402

CLIPS = ["ravdess_happy.mp4", "ravdess_sad.mp4", "ravdess_fearful.wav", "pexels_silent.mp4"]


def steadiness(points: list[TimelinePoint], key: str, thresholds: dict[str, float]) -> tuple[float, float, int]:
    labels = list(thresholds)
    s = np.array([[getattr(p, key)[k] for k in labels] for p in points])
    if len(s) < 2:
        return 0.0, 0.0, 0
    d = np.abs(np.diff(s, axis=0))
    on = s >= np.array([thresholds[k] for k in labels])
    flips = int(sum(((on[i - 1] != on[i]) & (on[i] != on[i + 1])).sum() for i in range(1, len(on) - 1)))
    return float(d.mean()), float(d.max()), flips


def plot_timeline(points: list[TimelinePoint], thresholds: dict[str, float], title: str, path: Path) -> None:
    """Raw (dashed) and smoothed (solid) score of each label over time, thresholds dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [p.centre for p in points]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    for i, label in enumerate(thresholds):
        c = f"C{i}"
        ax.plot(t, [p.raw[label] for p in points], "--", color=c, alpha=0.5, lw=1)
        ax.plot(t, [p.scores[label] for p in points], "-", color=c, lw=2, label=label)
    ax.set(ylim=(0, 1), xlabel="time (s)", ylabel="score (0-1)", title=title)
    ax.legend(ncol=6, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    from tailor_core.predictor import load_model
    from tailor_core.scoring import SMOOTHING_SECONDS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint")
    p.add_argument("--plots", type=Path, help="folder for one timeline PNG per clip")
    args = p.parse_args()
    predictor = load_model(args.checkpoint)
    print(f"Smoothing: exponential moving average, time constant {SMOOTHING_SECONDS} s\n")
    print("| clip | points | mean abs change raw → smoothed | largest jump raw → smoothed | flips raw → smoothed |")
    print("|---|---:|---:|---:|---:|")
    for name in CLIPS:
        path = ROOT / "assets" / name
        kind = "audio" if path.suffix == ".wav" else "video"
        pred = predictor.predict(**{kind: str(path)})
        raw, smooth = (steadiness(pred.timeline, k, pred.thresholds) for k in ("raw", "scores"))
        print(f"| {name} | {len(pred.timeline)} | {raw[0]:.3f} → {smooth[0]:.3f} | {raw[1]:.2f} → {smooth[1]:.2f} | "
              f"{raw[2]} → {smooth[2]} |")
        if args.plots:
            plot_timeline(pred.timeline, pred.thresholds, f"{name}: raw (dashed) and shown (solid)",
                          args.plots / f"{Path(name).stem}.png")


if __name__ == "__main__":
    main()
