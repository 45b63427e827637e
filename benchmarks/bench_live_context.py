"""A speaker talking on, live and as a file: how much earlier audio the live voice pass should see.

    python benchmarks/bench_live_context.py --data ../shared/data [--actors 6,7] [--contexts 0,2,6] [--out FILE]

Each live update encodes the voice of its new 0.5 s steps in one Whisper pass that also holds up to
``LiveOptions.voice_context_seconds`` of earlier audio (the pass is padded to ``voice_pad_seconds``, so its cost
does not depend on it). TAILOR was trained on single 3-5 s recordings, each encoded alone; a person who talks on
gives the encoder seconds of other speech beside each step. Here, for each RAVDESS actor given and each of its
emotions, the actor's first four recordings of that emotion (normal intensity, both statements, both repetitions;
about 14 s) are played back to back into a live stream, voice only (no camera, no speech to text), in 0.5 s chunks
with an update every second, once per context length. Every update from 6 s on (a full window) is read as the app
reads it: its top label over its threshold, or neutral when none is (RAVDESS's calm counted as neutral). The same
14 s are also read as one file (the app's file path). Accuracy over the 7 classes, per context and for the file.

Choose on the validation actors (6, 7: TAILOR's validation actors), report on the test actors (1-4).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLIPS_PER_STREAM = 4
CHUNK_SECONDS = 0.5


def streams(data: Path, actors: list[int]) -> list[tuple[str, int, np.ndarray]]:
    """(actor:class, class index, the first CLIPS_PER_STREAM recordings back to back at 16 kHz) per actor and
    class (neutral and calm are two streams of the neutral class)."""
    import soundfile as sf

    from training.voice_corpora import list_corpus

    by_key: dict[tuple[int, str], list] = {}
    for it in list_corpus(data, "ravdess"):
        actor = int(it.speaker.split(":")[1])
        if actor in actors:
            by_key.setdefault((actor, it.path.name.split("-")[2]), []).append(it)
    out = []
    for (actor, emotion), items in sorted(by_key.items()):
        items = sorted(items, key=lambda it: it.path.name)[:CLIPS_PER_STREAM]
        audio = np.concatenate([sf.read(it.path, dtype="float32")[0] for it in items])
        out.append((f"{actor}:{emotion}", items[0].label, audio))
    return out


def read(pred, labels: dict[str, int]) -> int:
    """The class the app shows: the top label over its threshold, else neutral (0)."""
    if not pred.labels:
        return 0
    return labels[max(pred.labels, key=lambda k: pred.scores[k])]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="../shared/data")
    p.add_argument("--actors", default="6,7")
    p.add_argument("--contexts", default="0,2,4,6", help="voice_context_seconds values to compare")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    import soundfile as sf

    from tailor_core.features.grid import SAMPLE_RATE
    from tailor_core.options import LiveOptions
    from tailor_core.predictor import load_model
    from training.voice_corpora import CLASSES, LABEL_OF_CLASS

    labels = {LABEL_OF_CLASS[c]: CLASSES.index(c) for c in CLASSES if c in LABEL_OF_CLASS}
    predictor = load_model()
    data = streams(args.data, [int(a) for a in args.actors.split(",")])
    chunk = int(CHUNK_SECONDS * SAMPLE_RATE)
    t0, results = time.time(), {"actors": args.actors, "streams": len(data), "live": {}, "file": {}}
    for context in (float(c) for c in args.contexts.split(",")):
        options = dataclasses.replace(LiveOptions(), voice_context_seconds=context)
        right = total = 0
        per_stream = {}
        for key, label, audio in data:
            stream = predictor.extractor.stream(window_seconds=options.window_seconds, transcribe=False,
                                                background=False, options=options)
            reads = []
            for i, k in enumerate(range(0, len(audio), chunk)):
                stream.add_audio(audio[k: k + chunk], SAMPLE_RATE, t=k / SAMPLE_RATE)
                if i % 2 == 1 and (k + chunk) / SAMPLE_RATE >= options.window_seconds:
                    reads.append(read(predictor.predict_bundle(stream.bundle(), timeline=False), labels))
            stream.close()
            right += sum(r == label for r in reads)
            total += len(reads)
            per_stream[key] = reads
        results["live"][f"{context:g}"] = {"accuracy": round(right / total, 4), "updates": total,
                                           "reads": per_stream}
        print(f"context {context:g} s: {right}/{total} = {right / total:.3f}  ({time.time() - t0:.0f}s)", flush=True)
    right = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "talk.wav"
        for key, label, audio in data:
            sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
            got = read(predictor.predict(audio=str(path)), labels)
            results["file"][key] = got
            right += got == label
    results["file_accuracy"] = round(right / len(data), 4)
    print(f"as one file: {right}/{len(data)} = {right / len(data):.3f}  ({time.time() - t0:.0f}s)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
