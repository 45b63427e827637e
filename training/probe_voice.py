"""Voice probe: Whisper tiny.en encoder states vs the librosa set, RAVDESS speech, unseen actors.

Stage 1 caches, per file, the encoder states of the real audio (``voice_states.encoder_states``; unpadded, log-mel
padded to 10 s, or to Whisper's 30 s window) and the librosa step features (``acoustic.acoustic_features``) under
``--cache``. Stage 2 fits a logistic regression (standardised features) on clip-level pooled features and reports
accuracy and macro-F1 on actors 19-24. Everything the probe chooses is chosen on the training actors alone, by
grouped 6-fold cross-validation (3 actors per fold, macro-F1): the inverse regularisation C, whether classes are
weighted (neutral has 1.5x the clips of each emotion, as calm counts as neutral), and, for the headline row, the
pooling (mean+std, or mean+std+10th/90th percentiles) and the frames pooled (all real audio, or only the speech
that the app's Silero VAD finds; RAVDESS clips hold about a second of silence around each sentence, which dilutes a
clip's mean and dominates its std); CV scores within ``CV_TIE`` of the best are ties, won by the smaller
vector. The test actors are used for nothing but the report. One row fits sklearn's
default regression (C = 1, no class weighting) with nothing chosen, as a check on the selection.
Seven classes: neutral (calm counted as neutral), happy, sad, angry, fearful, disgust, surprised.

    OMP_NUM_THREADS=1 python -m training.probe_voice --data ../shared/data/ravdess_speech \
        --cache /work/enc-cache/ravdess --modes nopad,pad10,pad30 --seed 0 --out benchmarks/results/voice_probe.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tailor_core.features.grid import SAMPLE_RATE
from tailor_core.features.voice_states import FRAME_SAMPLES, encoder_states, pool_steps
from training.acoustic import FRAME_NAMES, acoustic_features

CLASSES = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")
EMOTION_TO_CLASS = {1: 0, 2: 0, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5, 8: 6}  # calm (02) -> neutral
TEST_ACTORS = range(19, 25)
MODES = {"nopad": 0.0, "pad10": 10.0, "pad20": 20.0, "pad30": 30.0}  # log-mel padding of each clip before the encoder
# librosa frame columns kept as "prosody" when testing whether they add to the Whisper states
PROSODY = ("log_energy", "log2_f0", "voicing")


def parse(path: Path) -> tuple[int, int]:
    """(class index, actor) from a RAVDESS file name MM-VV-EE-II-SS-RR-AA."""
    f = path.stem.split("-")
    return EMOTION_TO_CLASS[int(f[2])], int(f[6])


def cache_states(data: Path, cache: Path, modes: list[str]) -> None:
    import soundfile as sf

    from tailor_core.features.speech import SpeechRecognizer

    model = SpeechRecognizer(cpu_threads=1).load()._model
    files = sorted(data.glob("Actor_*/*.flac"))
    cache.mkdir(parents=True, exist_ok=True)
    for mode in modes:
        out = cache / f"whisper_{mode}.npz"
        if out.exists():
            continue
        t0, states = time.time(), []
        for i, f in enumerate(files):
            y, sr = sf.read(f, dtype="float32")
            assert sr == SAMPLE_RATE
            states.append(encoder_states(model, y, pad_seconds=MODES[mode]).astype(np.float16))
            if i % 200 == 0:
                print(f"{mode} {i}/{len(files)} {time.time() - t0:.0f}s", flush=True)
        lens = np.array([len(s) for s in states])
        np.savez(out, states=np.concatenate(states), lens=lens, files=np.array([f.name for f in files]))
        print(f"{mode}: {time.time() - t0:.0f}s for {len(files)} files ({(time.time() - t0) / len(files):.3f} s/file)")
    out = cache / "librosa.npz"
    if not out.exists():
        feats = []
        for f in files:
            y, _ = sf.read(f, dtype="float32")
            feats.append(acoustic_features(y))
        lens = np.array([len(s) for s in feats])
        np.savez(out, feats=np.concatenate(feats), lens=lens, files=np.array([f.name for f in files]))


def speech_frames(samples16k: np.ndarray, n_frames: int) -> np.ndarray:
    """[n_frames] bool: the 20 ms encoder frames whose start lies in a speech region of the app's Silero VAD
    (its default options, as ``SpeechRecognizer`` decides what to transcribe); all True when it finds none."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    starts = np.arange(n_frames) * FRAME_SAMPLES
    keep = np.zeros(n_frames, bool)
    for r in get_speech_timestamps(np.asarray(samples16k, np.float32), VadOptions()):
        keep |= (starts >= r["start"]) & (starts < r["end"])
    return keep if keep.any() else np.ones(n_frames, bool)


def cache_speech(data: Path, cache: Path, lens: np.ndarray) -> np.ndarray:
    """Concatenated speech-frame masks of every file (``speech_frames``), cached as ``speech.npz``."""
    import soundfile as sf

    out = cache / "speech.npz"
    if not out.exists():
        files = sorted(data.glob("Actor_*/*.flac"))
        masks = [speech_frames(sf.read(f, dtype="float32")[0], int(n)) for f, n in zip(files, lens)]
        np.savez(out, speech=np.concatenate(masks), lens=lens)
    return np.load(out)["speech"]


def split_rows(arr: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    return np.split(arr.astype(np.float32), np.cumsum(lens)[:-1])


def mean_std(seqs: list[np.ndarray]) -> np.ndarray:
    """[n_clips, 2D]: per clip the mean and standard deviation over time of [T, D] states."""
    return np.stack([np.concatenate([s.mean(0), s.std(0)]) for s in seqs])


def mean_std_pct(seqs: list[np.ndarray]) -> np.ndarray:
    """[n_clips, 4D]: mean, standard deviation, 10th and 90th percentile over time."""
    return np.stack([np.concatenate([s.mean(0), s.std(0), *np.percentile(s, (10, 90), axis=0)]) for s in seqs])


POOLINGS = {"mean+std": mean_std, "mean+std+p10+p90": mean_std_pct}
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
CV_FOLDS = 6  # 18 training actors -> 3 per fold
CV_TIE = 0.002  # macro-F1: cross-validated scores closer than this are a tie (see main)


def probe(x: np.ndarray, y: np.ndarray, actors: np.ndarray, seed: int, default: bool = False,
          fitted: list | None = None) -> dict:
    """Standardise + logistic regression; C, class weighting by grouped CV on train actors (``default``: C = 1,
    no weighting, nothing chosen); metrics on test actors. ``fitted``, if given, receives the pipeline fitted
    on the train actors."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def make(c: float, weight: str | None):
        return make_pipeline(StandardScaler(),
                             LogisticRegression(C=c, class_weight=weight, max_iter=3000, random_state=seed))

    te = np.isin(actors, list(TEST_ACTORS))
    best, best_cv = None, -1.0
    for weight in ((None,) if default else (None, "balanced")):
        for c in ((1.0,) if default else C_GRID):
            p = cross_val_predict(make(c, weight), x[~te], y[~te], groups=actors[~te], cv=GroupKFold(CV_FOLDS))
            cv = f1_score(y[~te], p, average="macro")
            if cv > best_cv:
                best, best_cv = (c, weight), cv
    clf = make(*best).fit(x[~te], y[~te])
    if fitted is not None:
        fitted.append(clf)
    p = clf.predict(x[te])
    return {"C": best[0], "class_weight": best[1], "cv_f1": round(best_cv, 4),
            "acc": round(accuracy_score(y[te], p), 4), "macro_f1": round(f1_score(y[te], p, average="macro"), 4),
            "dim": x.shape[1]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--modes", default="nopad,pad10", help="comma list of encoder variants: nopad, pad10, pad20, pad30")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    cache_states(args.data, args.cache, modes)
    lib = np.load(args.cache / "librosa.npz")
    files = [Path(str(f)) for f in lib["files"]]
    y, actors = map(np.array, zip(*[parse(f) for f in files]))
    lib_steps = split_rows(lib["feats"], lib["lens"])
    results = {"librosa (68-d steps, mean+std)": probe(mean_std(lib_steps), y, actors, args.seed)}
    pros_cols = [FRAME_NAMES.index(n) for n in PROSODY]  # step means of the prosody frame values
    pros = mean_std([s[:, pros_cols] for s in lib_steps])
    for mode in modes:
        d = np.load(args.cache / f"whisper_{mode}.npz")
        frames = split_rows(d["states"], d["lens"])
        if mode == "pad30":
            speech = np.split(cache_speech(args.data, args.cache, d["lens"]), np.cumsum(d["lens"])[:-1])
            print(f"speech frames: {np.mean(np.concatenate(speech)):.1%} of real audio", flush=True)
            for name, pool in POOLINGS.items():
                results[f"whisper {mode}: speech frames {name}"] = probe(
                    pool([f[k] for f, k in zip(frames, speech)]), y, actors, args.seed)
            results[f"whisper {mode}: frames mean+std, default regression"] = probe(
                mean_std(frames), y, actors, args.seed, default=True)
        steps = [pool_steps(s, max(1, int(np.ceil(len(s) / 25))))[0] for s in frames]
        pooled_steps = {name: pool(steps) for name, pool in POOLINGS.items()}
        for name, pool in POOLINGS.items():
            results[f"whisper {mode}: frames {name}"] = probe(pool(frames), y, actors, args.seed)
            results[f"whisper {mode}: 0.5 s steps {name}"] = probe(pooled_steps[name], y, actors, args.seed)
        results[f"whisper {mode}: 0.5 s steps mean+std + prosody"] = probe(
            np.concatenate([pooled_steps["mean+std"], pros], 1), y, actors, args.seed)
        # the headline: the pooling of the 20 ms states with the best cross-validated F1 (test actors unseen); CV
        # scores within CV_TIE of the best are ties (such differences flip between 1- and 2-thread runs), and the
        # tie goes to the smaller pooled vector, then to the candidate listed first
        candidates = [f"whisper {mode}: {kind} {n}" for n in POOLINGS for kind in ("frames", "speech frames")]
        candidates = [c for c in candidates if c in results]
        best = max(results[c]["cv_f1"] for c in candidates)
        pick = min((c for c in candidates if results[c]["cv_f1"] >= best - CV_TIE), key=lambda c: results[c]["dim"])
        results[f"whisper {mode}: selected by CV"] = {"pooling": pick.split(": ")[1], **results[pick]}
    for k, v in results.items():
        print(f"{k:50s} {json.dumps(v)}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
