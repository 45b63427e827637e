"""A speaker talking on, read as a file: one Whisper pass over the whole clip against pieces cut at pauses.

    python benchmarks/bench_talking_file.py --data ../shared/data --actors 6,7 [--pauses 0,0.6] [--out FILE]

For each RAVDESS actor given, each emotion and each intensity, the actor's first four recordings of it (both
statements, both repetitions) are put back to back (~14 s, a *stream*) and read as one audio file, as the app reads
an upload (words included), once per ``FeatureExtractor.voice_pause_seconds`` given (0: the whole clip in one pass;
otherwise each piece between pauses encoded alone, ``voice_states.pause_cuts``). The same recordings are also read
one at a time (*singles*; a recording that is not cut reads exactly as with 0, so it is read once). A reading is the
app's: the top label over its threshold, else neutral (calm counts as neutral); accuracy over 7 classes.

Choose on TAILOR's validation actors (6, 7), report on the test actors (1-5): benchmarks/results/file_pieces.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
CLIPS_PER_STREAM = 4


def groups(data: Path, actors: list[int]) -> dict[str, list]:
    """'actor:emotion:intensity' -> the first CLIPS_PER_STREAM recordings (sorted by name) of the RAVDESS actors."""
    from training.voice_corpora import list_corpus

    out: dict[str, list] = {}
    for it in list_corpus(data, "ravdess"):
        actor, fields = int(it.speaker.split(":")[1]), it.path.name.split("-")
        if actor in actors:
            out.setdefault(f"{actor}:{fields[2]}:{fields[3]}", []).append(it)
    return {k: sorted(v, key=lambda it: it.path.name)[:CLIPS_PER_STREAM] for k, v in sorted(out.items())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="../shared/data")
    p.add_argument("--actors", default="6,7")
    p.add_argument("--pauses", default="0,0.6", help="voice_pause_seconds values to compare (0: one pass)")
    p.add_argument("--piece-pad", type=float, default=None,
                   help="voice_states.PIECE_PAD_SECONDS: the window a piece is padded to (default: the shipped one)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    import soundfile as sf
    from bench_live_context import read

    from tailor_core.features.grid import SAMPLE_RATE
    from tailor_core.features.voice_states import pause_cuts
    from tailor_core.predictor import load_model
    from training.voice_corpora import CLASSES, LABEL_OF_CLASS

    labels = {LABEL_OF_CLASS[c]: CLASSES.index(c) for c in CLASSES if c in LABEL_OF_CLASS}
    import tailor_core.features.voice_states as vs

    if args.piece_pad is not None:
        vs.PIECE_PAD_SECONDS = args.piece_pad
    predictor = load_model()
    pauses = [float(x) for x in args.pauses.split(",")]
    t0 = time.time()
    results: dict = {"actors": args.actors, "pauses": pauses, "streams": {}, "singles": {}}
    for key, items in groups(args.data, [int(a) for a in args.actors.split(",")]).items():
        label, ys = items[0].label, [sf.read(it.path, dtype="float32")[0] for it in items]
        for kind, audios in (("streams", [np.concatenate(ys)]), ("singles", ys)):
            for i, y in enumerate(audios):
                row, one_pass = {"label": label, "pieces": len(pause_cuts(y)) - 1}, None
                for pause in pauses:
                    if pause > 0 and len(pause_cuts(y, pause)) == 2 and one_pass is not None:
                        row[f"{pause:g}"] = one_pass  # not cut: the same computation as one pass
                        continue
                    predictor.extractor.voice_pause_seconds = pause
                    row[f"{pause:g}"] = read(predictor.predict(audio=y, sample_rate=SAMPLE_RATE), labels)
                    if pause == 0:
                        one_pass = row[f"{pause:g}"]
                results[kind][key if kind == "streams" else f"{key}:{i}"] = row
        print(key, results["streams"][key], f"({time.time() - t0:.0f} s)", flush=True)
    for kind in ("streams", "singles"):
        rows = results[kind].values()
        results[f"{kind}_accuracy"] = {f"{x:g}": round(float(np.mean([r[f"{x:g}"] == r["label"] for r in rows])), 4)
                                      for x in pauses}
        results[f"{kind}_right"] = {f"{x:g}": int(sum(r[f"{x:g}"] == r["label"] for r in rows)) for x in pauses}
        print(kind, len(rows), results[f"{kind}_right"], results[f"{kind}_accuracy"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
