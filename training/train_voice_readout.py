"""Fit the voice readout (``tailor_core/readouts.py``): what the voice features alone say, shown beside TAILOR.

The input is exactly what the app holds for a recording: Whisper tiny.en's encoder states of the real audio
(a 30 s window for files, ``LIVE_PAD_SECONDS`` for live updates: every clip is used once with each, ``WINDOWS``),
one mean per
0.5 s grid step (``pool_steps`` over ``n_steps_for``), then their mean and standard
deviation over the steps (``readouts.voice_vector``). A standardised multinomial logistic regression is fitted on
RAVDESS speech, actors 1-18 (Actor_05 is absent from the data), plus generated silence and room noise
(``synthetic.nothing_audio``) as an eighth class, *no voice*: without them the readout calls silence "sad"
(quiet speech is sad in RAVDESS), and as *neutral* they cost 3 points of held-out accuracy on speech (30 s fit). C and
class weighting are chosen by grouped 6-fold cross-validation on the training actors (``probe_voice.probe``;
the "nothing" clips are dealt out over their folds); actors 19-24 and a separate set of "nothing" clips are
used only for the report (macro-F1 over the seven emotions).
The fitted scaler and regression ship as ``assets/voice_emotion.safetensors`` (float32) + ``voice_emotion.json``
(classes, choices, held-out figures); put the printed SHA-256 into ``readouts.WEIGHTS_SHA256``.

    OMP_NUM_THREADS=1 python -m training.train_voice_readout --data ../shared/data/ravdess_speech \
        --cache /work/enc-cache/ravdess --seed 0

Encoder states are cached under ``--cache`` (shared with ``probe_voice``; about 11 min for 1,380 files on one
thread for the 30 s window, 3.5 min for the 20 s one); the "nothing" clips and the fit take about four minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from tailor_core.features.grid import n_steps_for
from tailor_core.features.voice_states import HOP_SECONDS, PAD_SECONDS, clip_voice_features, pool_steps
from tailor_core.options import LiveOptions
from tailor_core.readouts import CONFIG_FILENAME, NO_VOICE, VOICE_CLASSES, WEIGHTS_FILENAME, VoiceReadout, voice_vector
from tailor_core.readouts import SAME_EMOTION as SAME

from .probe_voice import CLASSES, TEST_ACTORS, cache_states, parse, probe, split_rows
from .synthetic import nothing_audio

NOTHING_CLIPS: dict[str, int] = {"train": 240, "test": 60}  # generated silence / room noise: class NO_VOICE
NOTHING_SEED: int = 7_000_000  # far from prepare_demo's seeds: other clips than the demo checkpoint's
# the encoder windows the readout reads: a file's (30 s) and a live update's (docs/encoders.md: a readout fitted
# on 30 s states alone read 10 s ones 10 points worse), each clip once in each; keys are probe_voice's cache modes
LIVE_PAD_SECONDS: float = LiveOptions().voice_pad_seconds
WINDOWS: dict[str, float] = {"pad30": PAD_SECONDS, f"pad{LIVE_PAD_SECONDS:.0f}": LIVE_PAD_SECONDS}


def nothing_vectors(n: int, first_seed: int, pad_seconds: float) -> np.ndarray:
    """[n, 2 * AUDIO_DIM] readout inputs of generated "nothing" clips, computed as the app computes a recording's
    (``pad_seconds``: the encoder window, as in ``WINDOWS``)."""
    from tailor_core.features.speech import SpeechRecognizer

    model = SpeechRecognizer(cpu_threads=1).model
    out = []
    for seed in range(first_seed, first_seed + n):
        out.append(voice_vector(clip_voice_features(model, nothing_audio(seed), pad_seconds=pad_seconds)[0]))
    return np.stack(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="RAVDESS speech: Actor_NN/*.flac at 16 kHz")
    ap.add_argument("--cache", type=Path, required=True, help="where the encoder states are cached")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "assets")
    args = ap.parse_args(argv)
    assert VOICE_CLASSES == (*[SAME.get(c, c) for c in CLASSES], NO_VOICE)  # the same emotions, in the same order
    from sklearn.metrics import accuracy_score, f1_score

    t0 = time.time()
    cache_states(args.data, args.cache, list(WINDOWS))
    real: dict[str, np.ndarray] = {}
    for mode in WINDOWS:
        d = np.load(args.cache / f"whisper_{mode}.npz")
        steps = [pool_steps(s, n_steps_for(len(s) * HOP_SECONDS))[0] for s in split_rows(d["states"], d["lens"])]
        real[mode] = np.stack([voice_vector(s) for s in steps])
    y, actors = map(np.array, zip(*[parse(Path(str(f))) for f in d["files"]]))  # the same files in every mode
    train_actors = sorted(set(actors.tolist()) - set(TEST_ACTORS))
    n_tr, n_te = NOTHING_CLIPS["train"], NOTHING_CLIPS["test"]
    nothing = {mode: nothing_vectors(n_tr + n_te, NOTHING_SEED + 1_000 * args.seed, pad)
               for mode, pad in WINDOWS.items()}
    nothing_actors = np.array([train_actors[i % len(train_actors)] for i in range(n_tr)]
                              + [TEST_ACTORS[i % len(TEST_ACTORS)] for i in range(n_te)])
    no_voice = VOICE_CLASSES.index(NO_VOICE)
    # every clip once per window, in the same CV fold (grouped by actor)
    x = np.concatenate([*real.values(), *nothing.values()])
    labels = np.concatenate([y] * len(WINDOWS) + [np.full(n_tr + n_te, no_voice)] * len(WINDOWS))
    groups = np.concatenate([actors] * len(WINDOWS) + [nothing_actors] * len(WINDOWS))
    fitted: list = []
    chosen = probe(x, labels, groups, args.seed, fitted=fitted)
    te = np.isin(actors, list(TEST_ACTORS))
    report = {"C": chosen["C"], "class_weight": chosen["class_weight"], "cv_f1": chosen["cv_f1"]}
    for mode in WINDOWS:
        p = fitted[0].predict(real[mode][te])
        f1 = f1_score(y[te], p, labels=range(len(CLASSES)), average="macro")
        report[mode] = {"acc": round(accuracy_score(y[te], p), 4), "macro_f1": round(f1, 4),
                        "speech_read_no_voice": round(float(np.mean(p == no_voice)), 4),
                        "nothing_read_no_voice": round(float(np.mean(
                            fitted[0].predict(nothing[mode][n_tr:]) == no_voice)), 4)}
    scaler, lr = fitted[0].named_steps["standardscaler"], fitted[0].named_steps["logisticregression"]
    from safetensors.numpy import save

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / WEIGHTS_FILENAME
    arrays = {"mean": scaler.mean_, "scale": scaler.scale_, "coef": lr.coef_, "intercept": lr.intercept_}
    # C order: safetensors writes an array's buffer as it lies, and sklearn's coef_ may be a transposed view
    weights.write_bytes(save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}))
    config = {"classes": list(VOICE_CLASSES), "dim": int(x.shape[1]),
              "input": f"mean and std over 0.5 s steps of Whisper tiny.en encoder states ({' and '.join(WINDOWS)})",
              "train": f"RAVDESS speech, actors 1-18 except 5 ({int((~te).sum())} clips; calm counted as neutral) "
                       f"+ {n_tr} generated silence / room-noise clips as {NO_VOICE}",
              "held_out": f"actors {TEST_ACTORS.start}-{TEST_ACTORS.stop - 1} ({int(te.sum())} clips; acc, macro_f1) "
                          f"+ {n_te} other generated clips (nothing_read_no_voice)",
              "seed": args.seed, **report}
    (args.out / CONFIG_FILENAME).write_text(json.dumps(config, indent=1) + "\n")
    # the shipped file must read as the fitted model does (held-out speech and "nothing" clips)
    shipped = VoiceReadout(weights, expected_sha256="")
    check = np.concatenate([real["pad30"][te], nothing["pad30"][n_tr:]])
    got = np.array([list(shipped.probs_of(v).values()) for v in check])
    assert np.allclose(got, fitted[0].predict_proba(check), atol=1e-4), "the saved readout differs from the fit"
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    print(json.dumps(report))
    print(f"{weights} ({weights.stat().st_size:,} bytes) sha256 {sha}; {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
