"""TAILOR's voice alone with a file's (30 s) vs the live view's (``LiveOptions``) Whisper window, RAVDESS.

    python benchmarks/bench_live_window.py --cache /work/enc-cache/ravdess [--checkpoint DIR] [--actors 1,2,3,4]

Reads the encoder states that ``training.probe_voice`` caches (``whisper_pad30.npz``,
``whisper_pad20.npz``, ``whisper_pad10.npz``: every clip encoded whole, padded to 30 s as a file is, to 20 s as a
live update is, or to the 10 s that live updates used before; make them with ``probe_voice --modes
pad10,pad20,pad30``), pools them on the 0.5 s grid as the app does, and scores each clip alone (voice only) with
the checkpoint. A clip's answer is its top label when some label passes its
threshold, else neutral; 7 classes, calm counted as neutral. Default actors: the demo checkpoint's test voices
(1-4; ``training/prepare_demo``); 6,7 are its validation voices.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tailor_core.config import LABELS  # noqa: E402
from tailor_core.features import FeatureBundle  # noqa: E402
from tailor_core.features.grid import n_steps_for  # noqa: E402
from tailor_core.features.voice_states import HOP_SECONDS, pool_steps  # noqa: E402
from tailor_core.options import LiveOptions  # noqa: E402
from training.probe_voice import CLASSES, parse, split_rows  # noqa: E402

LIVE_PAD_SECONDS = LiveOptions().voice_pad_seconds
WINDOWS = {"file (30 s)": "pad30", f"live ({LIVE_PAD_SECONDS:.0f} s)": f"pad{LIVE_PAD_SECONDS:.0f}",
           "10 s (the live window until 2026-12-06)": "pad10"}  # a mode whose states are not cached is skipped
CLASS_OF_LABEL = {"happy": "happy", "sad": "sad", "anger": "angry", "surprise": "surprised", "disgust": "disgust",
                  "fear": "fearful"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", type=Path, required=True, help="probe_voice's --cache")
    p.add_argument("--checkpoint", default=None, help="default: the shipped checkpoint")
    p.add_argument("--actors", default="1,2,3,4")
    args = p.parse_args(argv)
    from sklearn.metrics import accuracy_score, f1_score

    from tailor_core.predictor import load_model

    assert set(CLASS_OF_LABEL) == set(LABELS)
    actors = {int(a) for a in args.actors.split(",")}
    predictor = load_model(args.checkpoint, transcribe=False)
    results = {}
    for name, mode in WINDOWS.items():
        if not (args.cache / f"whisper_{mode}.npz").exists():
            continue
        d = np.load(args.cache / f"whisper_{mode}.npz")
        truth, said = [], []
        for f, states in zip(d["files"], split_rows(d["states"], d["lens"])):
            cls, actor = parse(Path(str(f)))
            if actor not in actors:
                continue
            n = n_steps_for(len(states) * HOP_SECONDS)
            rows, mask = pool_steps(states, n)
            bundle = replace(FeatureBundle.empty(n), audio=rows, audio_mask=mask)  # voice only
            pred = predictor.predict_bundle(bundle, timeline=False)
            top = max(pred.scores, key=pred.scores.get)
            said.append(CLASSES.index(CLASS_OF_LABEL[top]) if pred.labels else 0)
            truth.append(cls)
        results[name] = {"clips": len(truth), "accuracy": round(accuracy_score(truth, said), 4),
                         "macro_f1": round(f1_score(truth, said, average="macro"), 4)}
    print(json.dumps({"checkpoint": str(predictor.checkpoint), "actors": sorted(actors), **results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
