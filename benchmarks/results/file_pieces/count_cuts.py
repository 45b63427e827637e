"""Which items of bench_clip_rules.py / bench_robustness.py a file's pause cut would cut (their audio, every variant).

    python benchmarks/results/file_pieces/count_cuts.py --data ../shared/data

An item whose audio gives one piece reads exactly as before (file_states takes the same path), so only cut items
need a new reading.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_clip_rules import TAKE_VARIANTS  # noqa: E402
from benchmarks.bench_robustness import items, variant  # noqa: E402
from tailor_core.features.audio import resample_to_16k  # noqa: E402
from tailor_core.features.media import decode_audio  # noqa: E402
from tailor_core.features.voice_states import pause_cuts  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--data", type=Path, required=True)
args = ap.parse_args()
total = cut = 0
for it in items(args.data):
    y = decode_audio(it["path"], 60.0)[0]
    for name in TAKE_VARIANTS:
        v, sr = variant(y, name)
        n = len(pause_cuts(resample_to_16k(v, sr))) - 1
        total += 1
        if n > 1:
            cut += 1
            print("cut:", it["name"], name, n, "pieces")
print(f"{cut} of {total} item variants are cut")
