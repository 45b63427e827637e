"""What TAILOR reads from a typed line, per domain: the words as the app reads them, not the words encoder alone.

    OMP_NUM_THREADS=1 python benchmarks/bench_words_domains.py --data ../shared/data \\
        [--checkpoint DIR] [--limit N] [--out F.json]

Each held-out line goes through the app's own path for typed text (``FeatureExtractor.text`` then
``Predictor.predict_bundle``: TAILOR with the words alone, the checkpoint's thresholds). Held-out sets, the same as
``training/train_text.py --corpora`` reports for the words encoder (never used for any choice there): GoEmotions test
(Reddit, 5,427), MELD dev (TV dialogue, 1,109) and the SemEval-2018 E-c tweets held out by ``--split-seed 0``
(1,026). Per set: the top emotion over the six on the lines with one (argmax of the scores; what the headline of
the summary shows), macro-F1 over the six labels with the checkpoint's thresholds, and the share of neutral lines
given a label. The words encoder is the one the app loads (``TAILOR_TEXT_EMOTION_MODEL`` picks another, as for the
app). About 30 ms a line on one busy core (~4 min in all).
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

# the words encoder's classes (training.train_text.LABELS) -> TAILOR's labels; "neutral" is no label
ENCODER_TO_TAILOR = {"joy": "happy", "sadness": "sad", "anger": "anger", "surprise": "surprise",
                     "disgust": "disgust", "fear": "fear"}


def held_out_sets(data: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """{set: (lines, multi-hot [N, 7] in the words encoder's classes)} of the three held-out sets."""
    from training.train_text import read_meld, read_semeval, read_split, semeval_split

    words, y = read_split(data / "goemotions_ekman", "test")
    out = {"goemotions_test": ([" ".join(w) for w in words], y)}
    words, y, _ = read_meld(data / "meld" / "dev_sent_emo.csv")
    out["meld_dev"] = ([" ".join(w) for w in words], y)
    words, y, ids = read_semeval(data / "semeval2018_ec" / "train.txt")
    idx = semeval_split(ids, 0)["test"]
    out["semeval_held_out"] = ([" ".join(words[i]) for i in idx], y[idx])
    return out


def scores_of(lines: list[str], targets: np.ndarray, predictor, encoder_labels: tuple[str, ...]) -> dict:
    """Top emotion, macro-F1 and neutral lines labelled, for ``lines`` with targets [N, 7] (encoder classes)."""
    from sklearn.metrics import f1_score

    labels = predictor.labels
    cols = [encoder_labels.index(k) for k, v in sorted(ENCODER_TO_TAILOR.items(), key=lambda kv: labels.index(kv[1]))]
    y = targets[:, cols].astype(int)  # [N, 6] in TAILOR's label order
    s = np.zeros(y.shape, np.float32)
    fx = predictor.extractor
    for i, line in enumerate(lines):
        p = predictor.predict_bundle(fx.text(line), timeline=False)
        s[i] = [p.scores[k] for k in labels]
    thr = np.array([predictor.thresholds[k] for k in labels])
    pred = (s >= thr).astype(int)
    emotional = y.sum(1) > 0
    top_right = y[emotional, s[emotional].argmax(1)] == 1
    per_label = f1_score(y, pred, average=None, zero_division=0)
    return {"n": len(lines), "n_with_emotion": int(emotional.sum()),
            "top_emotion_6": round(float(top_right.mean()), 4) if emotional.any() else None,
            "macro_f1_6": round(float(per_label.mean()), 4),
            "per_label_f1": {k: round(float(v), 4) for k, v in zip(labels, per_label, strict=True)},
            "neutral_lines_labelled": round(float(pred[~emotional].any(1).mean()), 4) if (~emotional).any() else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data")
    ap.add_argument("--checkpoint", type=Path, default=None, help="a TAILOR checkpoint (default: the shipped one)")
    ap.add_argument("--limit", type=int, default=0, help="first N lines of each set only (a quick look)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    import torch

    from tailor_core.features.text_emotion import LABELS
    from tailor_core.predictor import load_model

    torch.set_num_threads(1)
    t0 = time.time()
    predictor = load_model(args.checkpoint, device="cpu", preload=False)
    def shown(path) -> str:  # repo-relative when inside the repo, so a record reads the same on any machine
        path = Path(path).resolve()
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)

    words = predictor.extractor.text_encoder.weights_path
    result = {"checkpoint": shown(predictor.checkpoint), "words_encoder": shown(words),
              "thresholds": predictor.thresholds, "sets": {}}
    for name, (lines, y) in held_out_sets(args.data).items():
        if args.limit:
            lines, y = lines[: args.limit], y[: args.limit]
        result["sets"][name] = r = scores_of(lines, y, predictor, LABELS)
        print(f"{name}: top emotion {r['top_emotion_6']} (of {r['n_with_emotion']}), macro-F1 {r['macro_f1_6']}, "
              f"neutral lines labelled {r['neutral_lines_labelled']}  {time.time() - t0:.0f}s", flush=True)
    result["seconds"] = round(time.time() - t0)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
