"""How often speech is flagged as not English (its words then go unscored): German, and English for contrast.

    python benchmarks/bench_speech_language.py --data ../shared/data [--n 20] [--seed 0]

Draws ``--n`` clips from EmoDB (German), RAVDESS actors 1-4 and TESS (English) and runs the app's speech
recognizer on each (``SpeechRecognizer.listen``): a clip is "flagged" when speech was heard but its words do not
read as English (``Heard.unclear``, ``SpeechOptions.min_mean_word_prob``). Prints one line per clip and a count
per corpus.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tailor_core.features.speech import SpeechRecognizer  # noqa: E402

CORPORA: dict[str, str] = {"emodb (German)": "emodb/*.flac", "ravdess actors 1-4 (English)":
                           "ravdess_speech/Actor_0[1-4]/*.flac", "tess (English)": "tess/*.flac"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the folder holding emodb/, ravdess_speech/, tess/")
    ap.add_argument("--n", type=int, default=20, help="clips per corpus")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import soundfile as sf

    recognizer = SpeechRecognizer()
    rng = random.Random(args.seed)
    for name, pattern in CORPORA.items():
        files = sorted(args.data.glob(pattern))
        flagged = 0
        for f in rng.sample(files, min(args.n, len(files))):
            y, sr = sf.read(f, dtype="float32")
            assert sr == 16000, f"{f}: expected 16 kHz"
            heard = recognizer.listen(y)
            flagged += heard.unclear
            print(f"{name}\t{f.name}\tflagged={heard.unclear}\t{' '.join(w for w, _, _ in heard.words)[:70]}")
        print(f"== {name}: {flagged} of {min(args.n, len(files))} flagged as not English", flush=True)


if __name__ == "__main__":
    main()
