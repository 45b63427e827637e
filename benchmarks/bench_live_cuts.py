"""One take read through the live window and as files cut from the same looped sound: where its reading comes from.

    python benchmarks/bench_live_cuts.py [--loops 4] [--pad 20] [--context 6] [CLIP]

The clip's sound (default: the fearful example) is played ``--loops`` times into a live stream in 0.5 s chunks, as
the browser test's fake microphone does, with an update every second (each new step's voice encoded once, in a
pass padded to ``voice_pad_seconds`` with up to ``voice_context_seconds`` of earlier audio); then the stream's last
window (``LiveOptions.window_seconds``) is scored with every modality, with the voice alone and
with the words alone, and each encoder alone reads it. The same sound is then read as files (the app's file path:
a 30 s window, two phases): the take itself, the stream's last window, the take's length at the stream's end, and two
loops. Prints one line per reading: the six scores and the labels over their thresholds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clip", nargs="?", type=Path, default=ROOT / "assets" / "ravdess_fearful.wav")
    p.add_argument("--loops", type=int, default=4)
    p.add_argument("--pad", type=float, default=None, help="the live voice window (s; default: the app's)")
    p.add_argument("--context", type=float, default=None,
                   help="the live voice pass's earlier audio (s; default: the app's voice_context_seconds)")
    args = p.parse_args(argv)
    import soundfile as sf

    from tailor_core.features.grid import SAMPLE_RATE
    from tailor_core.features.media import decode_audio
    from tailor_core.options import LiveOptions
    from tailor_core.predictor import load_model

    predictor = load_model()
    take = decode_audio(args.clip, max_seconds=60.0)[0]
    show = lambda tag, pred: print(f"{tag:<44}", " ".join(f"{k} {v:.2f}" for k, v in pred.scores.items()),  # noqa: E731
                                   "->", ", ".join(pred.labels) or "no label", flush=True)
    options = LiveOptions()
    if args.pad is not None:
        options = dataclasses.replace(options, voice_pad_seconds=args.pad)
    if args.context is not None:
        options = dataclasses.replace(options, voice_context_seconds=args.context)
    stream = predictor.extractor.stream(window_seconds=options.window_seconds, background=False, options=options)
    chunk = int(0.5 * SAMPLE_RATE)
    looped = np.concatenate([take] * args.loops)
    for i, k in enumerate(range(0, len(looped), chunk)):
        stream.add_audio(looped[k: k + chunk], SAMPLE_RATE, t=k / SAMPLE_RATE)
        if i % 2 == 1:  # an update every second, as live: each new step is encoded once, with earlier context
            stream.bundle()
    window = stream.bundle(flush=True)
    stream.close()
    print("words:", " ".join(w.text for w in window.words))
    show("live window, everything", predictor.predict_bundle(window, timeline=False))
    show("live window, voice alone", predictor.predict_bundle(
        dataclasses.replace(window, text_mask=np.zeros_like(window.text_mask), words=[]), timeline=False))
    show("live window, words alone", predictor.predict_bundle(
        dataclasses.replace(window, audio_mask=np.zeros_like(window.audio_mask)), timeline=False))
    alone = predictor.read_encoders(window)
    print("live window, each encoder alone (top):", {m: max(r, key=r.get) for m, r in alone.items()})
    cuts = {"the take, as a file": take,
            f"the live window's last {options.window_seconds:.0f} s, as a file":
                looped[-int(options.window_seconds * SAMPLE_RATE):],
            "the take's length at the stream's end, as a file": looped[-len(take):],
            "two loops, as a file": looped[-2 * len(take):]}
    with tempfile.TemporaryDirectory() as tmp:
        for tag, y in cuts.items():
            path = Path(tmp) / "cut.wav"
            sf.write(path, y, SAMPLE_RATE, subtype="PCM_16")
            show(tag, predictor.predict(audio=str(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
