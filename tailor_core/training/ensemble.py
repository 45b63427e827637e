"""Put TAILOR runs trained apart (different seeds, the same data and configuration) into one checkpoint that
averages their label logits (``model.TailorEnsemble``), then calibrate it and tune its thresholds on validation
and measure it on test, exactly as ``train --calibrate --tune-thresholds`` finishes a single run.

    python -m tailor_core.training.ensemble --runs runs/demo runs/demo-s43 runs/demo-s44 \\
        --data cache/demo.npz --output runs/demo-ensemble --tune-on summary

Each run's own calibration and thresholds are dropped (they were fitted to its logits alone); ``metrics.json``
keeps the test metrics of the ensemble and each run's best validation micro-F1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..model import TAILOR, TailorEnsemble
from .calibrate import TUNE_ON, finish_checkpoint
from .evaluate import evaluate_split

# Config fields that may differ between runs: what finishing a run fits, and free-form notes.
FITTED_FIELDS: tuple[str, ...] = ("thresholds", "temperatures", "score_offsets", "meta")


def combine(models: list[TAILOR]) -> TailorEnsemble:
    """One :class:`TailorEnsemble` holding ``models`` (same architecture and features), uncalibrated.

    Raises:
        ValueError: fewer than two runs, an ensemble among them, or runs whose configs differ beyond
            ``FITTED_FIELDS``.
    """
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least two runs, got {len(models)}")
    if any(not isinstance(m, TAILOR) for m in models):
        raise ValueError("every run must be a single TAILOR model, not an ensemble")
    blank = {f: ({} if f == "meta" else None) for f in FITTED_FIELDS}
    shapes = [dataclasses.replace(m.config, **blank) for m in models]
    for i, cfg in enumerate(shapes[1:], 1):
        if cfg != shapes[0]:
            diff = sorted(k for k, v in cfg.to_dict().items() if shapes[0].to_dict()[k] != v)
            raise ValueError(f"run {i} has another configuration than run 0 (fields {diff}): "
                             "an ensemble's members must share sizes and features")
    ensemble = TailorEnsemble(dataclasses.replace(shapes[0], members=len(models)))
    for member, model in zip(ensemble.members, models, strict=True):
        member.load_state_dict(model.state_dict(), strict=True)
    return ensemble.eval()


def main(argv: list[str] | None = None) -> int:
    from .data import load_data, load_npz

    p = argparse.ArgumentParser(prog="python -m tailor_core.training.ensemble", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="training runs' --output directories (2 or more)")
    p.add_argument("--data", required=True, help="the data they were trained on (validation fits, test measures)")
    p.add_argument("--output", required=True, help="directory for the ensemble checkpoint and metrics.json")
    p.add_argument("--tune-on", choices=TUNE_ON, default="one-pass",
                   help="tune thresholds on one pass over each example or on the app's summary of it")
    args = p.parse_args(argv)
    try:
        models = [TAILOR.from_pretrained(r) for r in args.runs]
        ensemble = combine(models)  # type: ignore[arg-type]  # combine checks they are single models
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output)
    ensemble.save_pretrained(out)
    splits = load_npz(args.data, ("valid", "test")) if args.data.endswith(".npz") else load_data(args.data)
    # As training picks a run's best epoch (raw scores, the config's one threshold): comparable with the members'
    valid = evaluate_split(ensemble, splits["valid"])["micro_f1"]
    metrics = finish_checkpoint(ensemble, splits, out, calibrate=True, tune=True, tune_on=args.tune_on)
    metrics["valid_micro_f1"] = valid
    metrics["members"] = []
    for run in args.runs:
        path = Path(run) / "metrics.json"
        old = json.loads(path.read_text()) if path.is_file() else {}
        metrics["members"].append({"run": str(run), "best_valid_micro_f1": old.get("best_valid_micro_f1")})
    metrics["parameters"] = ensemble.num_parameters()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    members = ", ".join(str(m["best_valid_micro_f1"]) for m in metrics["members"])
    print(f"{len(models)} members; validation micro-F1 {valid:.4f} (members: {members}); "
          f"test micro-F1 {metrics['micro_f1']:.4f} (one pass)"
          + (f", {metrics['summary']['micro_f1']:.4f} (app summary)" if "summary" in metrics else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
