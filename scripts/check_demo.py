"""What a visitor sees, checked on real media: "nothing" inputs and the example clips.

    python -m scripts.check_demo [--checkpoint DIR]

* "Nothing" inputs must give **no label over threshold**: 3 s of silence (a wav), a clip of blank grey frames
  with a silent audio track, a neutral sentence.
* Every example clip must give its true emotion as the **top** label (RAVDESS happy, sad, fearful; the silent
  Pexels clip has no annotated emotion and is only listed).
Prints a markdown table: top label, labels over threshold, the three highest scores, and what each encoder reads
on its own (``tailor_core.readouts``: the face network, the voice readout, the words encoder's head).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NEUTRAL_SENTENCE = "The meeting has been moved to the second floor, next to the printer."
EXAMPLES = [("ravdess_happy.mp4", "video", "happy"), ("ravdess_sad.mp4", "video", "sad"),
            ("ravdess_fearful.wav", "audio", "fear"), ("pexels_silent.mp4", "video", None)]


def _silent_wav(path: Path, seconds: float = 3.0, rate: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(int(seconds * rate), np.int16).tobytes())
    return path


def _blank_clip(path: Path, seconds: float = 3.0) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.media_utils import write_clip

    frames = [np.full((240, 320, 3), 128, np.uint8)] * int(seconds * 10)
    return write_clip(path, frames, 10, audio=np.zeros(int(seconds * 16_000), np.float32), sample_rate=16_000)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.check_demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint")
    args = p.parse_args(argv)
    from tailor_core.predictor import load_model

    predictor = load_model(args.checkpoint)
    tmp = Path(tempfile.mkdtemp())
    rows = [("silence (3 s wav)", {"audio": str(_silent_wav(tmp / "silence.wav"))}, "none"),
            ("blank frames + silent track", {"video": str(_blank_clip(tmp / "blank.mp4"))}, "none"),
            (f"neutral sentence: \"{NEUTRAL_SENTENCE}\"", {"text": NEUTRAL_SENTENCE}, "none")]
    rows += [(name, {kind: str(ROOT / "assets" / name)}, truth or "(not annotated)") for name, kind, truth in EXAMPLES]
    failures = 0
    from tailor_core.config import DISPLAY_NAMES
    from tailor_core.readouts import readout_line

    print("| input | expected | top label | over threshold | highest scores | each encoder alone | ok |")
    print("|---|---|---|---|---|---|---|")
    for name, kwargs, expected in rows:
        pred = predictor.predict(**kwargs)
        top = max(pred.scores, key=pred.scores.get)
        best = ", ".join(f"{k} {v:.2f}" for k, v in sorted(pred.scores.items(), key=lambda kv: -kv[1])[:3])
        if expected == "none":
            ok = not pred.labels
        elif expected.startswith("("):
            ok = True
        else:
            ok = top == expected
        failures += not ok
        alone = readout_line(pred.readouts, DISPLAY_NAMES).replace(" · ", "; ")
        print(f"| {name} | {expected} | {top} | {', '.join(pred.labels) or 'none'} | {best} | {alone} | "
              f"{'yes' if ok else '**no**'} |")
    print(f"\n{len(rows) - failures}/{len(rows)} as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
