"""Words the live transcript invents where a clip is cut: the microphone opening mid-word, a pass ending mid-word.

    python benchmarks/bench_live_transcript.py [--starts 10] [--seconds 14] [--every 2] [--out FILE] [CLIP ...]

A live session's speech-to-text reads audio that begins when the microphone opened (often inside a word) and ends
with the newest chunk (often inside a word too). Each clip (default: the three RAVDESS examples in ``assets/``,
one spoken sentence each) is played in a loop into a :class:`~tailor_core.features.stream.StreamExtractor`, in
0.5 s chunks, starting at ``--starts`` points spread over the clip (the microphone opening there), with
speech-to-text run in-line whenever it is due (``background=False``: the passes are the app's, deterministically
timed). A word is *invented* when it is not among the words of the whole clip's own transcription. Counted: the
starts whose committed transcript (what the live view keeps) holds an invented word, and the passes after which the
words handed to the model (committed and tentative) hold one. Writes a JSON file with every invented word.
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
EXAMPLES = ["ravdess_happy.mp4", "ravdess_sad.mp4", "ravdess_fearful.wav"]
CHUNK_SECONDS = 0.5


def clip_audio(path: Path) -> np.ndarray:
    """The clip's sound, mono float32 at 16 kHz."""
    from tailor_core.features.media import decode_audio

    return decode_audio(path, max_seconds=60.0)[0]


def norm(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum() or c == "'")


def repeats(words: list[str]) -> list[str]:
    """Words said twice in a row (the loop's sentence never repeats a word: each is a word heard twice at a cut)."""
    return [a for a, b in zip(map(norm, words), map(norm, words[1:])) if a == b]


def run(clip: Path, extractor, starts: int, seconds: float, every: float = 2.0) -> dict:
    """Play ``clip`` in a loop from ``starts`` points; the invented words seen."""
    from tailor_core.features.grid import SAMPLE_RATE
    from tailor_core.options import LiveOptions

    y = clip_audio(clip)
    reference = {norm(w[0]) for w in extractor.speech.transcribe(y)}
    loop = np.tile(y, int(np.ceil((seconds * SAMPLE_RATE + len(y)) / len(y))) + 1)
    chunk = int(CHUNK_SECONDS * SAMPLE_RATE)
    out = {"reference": sorted(reference), "starts": []}
    for k in range(starts):
        offset = int(k * len(y) / starts)
        stream = extractor.stream(window_seconds=6.0, background=False,
                                   options=LiveOptions(asr_every_seconds=every))
        invented_model, passes, shown_words = [], 0, 0
        try:
            for i in range(int(seconds / CHUNK_SECONDS)):
                stream.add_audio(loop[offset + i * chunk: offset + (i + 1) * chunk], SAMPLE_RATE,
                                 t=i * CHUNK_SECONDS)
                before = stream._asr_last_end
                stream.transcribe_if_due()  # in-line: returns once the pass is done
                if stream._asr_last_end != before:
                    passes += 1
                    # what the live view shows and scores: the committed words and the tentative ones shown
                    tentative = stream._tentative[: getattr(stream, "_tentative_shown", len(stream._tentative))]
                    shown = [*stream._words, *tentative]
                    shown_words += len(shown)
                    end = stream._asr_last_end / SAMPLE_RATE  # where the pass's audio ended
                    # each invented word with how far before the pass's end it ends, and whether it was the last
                    bad = [(w[0], round(end - w[2], 2), j == len(shown) - 1) for j, w in enumerate(shown)
                           if norm(w[0]) not in reference]
                    if bad:
                        invented_model.append(bad)
            committed = list(stream._heard)  # every committed word (the running transcript), not only the window's
            invented = [w for w in committed if norm(w) not in reference]
        finally:
            stream.close()
        out["starts"].append({"offset_s": round(offset / SAMPLE_RATE, 2), "passes": passes, "shown_words": shown_words,
                              "committed_invented": invented, "model_invented_passes": len(invented_model),
                              "model_invented": invented_model, "repeated": repeats(committed),
                              "transcript": " ".join(committed)})
    s = out["starts"]
    out["summary"] = {"starts": len(s),
                      "starts_with_committed_invention": sum(bool(r["committed_invented"]) for r in s),
                      "starts_with_a_repeated_word": sum(bool(r["repeated"]) for r in s),
                      "passes": sum(r["passes"] for r in s),
                      # the words the model read, summed over passes: what leaving out words at a cut costs
                      "shown_words": sum(r["shown_words"] for r in s),
                      "passes_with_invention_for_the_model": sum(r["model_invented_passes"] for r in s)}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="*", type=Path, default=[ROOT / "assets" / c for c in EXAMPLES])
    ap.add_argument("--starts", type=int, default=10, help="microphone openings spread over each clip")
    ap.add_argument("--seconds", type=float, default=14.0, help="how long each run listens")
    ap.add_argument("--every", type=float, default=2.0,
                    help="seconds of new audio between passes (a busy machine's passes come later than the default)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from tailor_core.predictor import load_model

    extractor = load_model().extractor
    t0, results = time.time(), {}
    for clip in args.clips:
        results[clip.name] = run(clip, extractor, args.starts, args.seconds, args.every)
        print(clip.name, json.dumps(results[clip.name]["summary"]), f"{time.time() - t0:.0f}s", flush=True)
    total = {k: sum(r["summary"][k] for r in results.values()) for k in next(iter(results.values()))["summary"]}
    results["total"] = total
    print(json.dumps(total))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
