"""Why a few milliseconds move the voice reading: Whisper's 20 ms states against a 10 ms shift.

    OMP_NUM_THREADS=1 python benchmarks/bench_voice_phase.py --data ../shared/data \
        [--out benchmarks/results/voice_phase.json]

Whisper's encoder turns 10 ms log-mel frames into one state per 20 ms with a stride-2 convolution, so audio
shifted by 10 ms (one mel hop) is read with the other pairing of mel frames, and audio shifted by a part of a hop
with other mel windows altogether. This reads the items of ``bench_robustness.py`` (examples, Actor_05 clips'
audio tracks, RAVDESS actors 1-4) with TAILOR's voice alone (shipped checkpoint, words and face masked), each as
given and with 10, 21 or 44 ms of silence in front or through AAC 32 kb/s at 16 kHz / Opus 24 kb/s at 48 kHz, with
two voice features:

* ``single``: one encoder pass, step means of the 20 ms states (the app's before ``voice_states.FILE_PHASES`` = 2);
* ``phase2``: ``voice_states.two_phase_states``, the average of two passes, the audio as given and shifted by half
  a state (160 samples, one mel hop), the second pass's states interpolated onto the first's frame centres (what
  the app reads a file with now; twice the encoder cost).

Per variant: top-emotion agreement with the label, flip rate against the unshifted reading and ``delta``, the mean
of the largest change of any label's score. About 25 s an item on one busy core.

``--heldout CACHE``: also TAILOR's voice alone on every clip of RAVDESS actors 1-4 (240, the checkpoint's test
voices; scored as ``bench_live_window.py`` scores them: the top label if one passes its threshold, else neutral,
7 classes) with one pass and with two, from ``CACHE/whisper_pad30.npz`` (``training.voice_corpora --data DIR
--modes pad30`` over a folder holding only Actor_01..04) and the half-state-shifted pass, which is encoded into
``CACHE/whisper_pad30_shift160.npz`` when missing (~4 min).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("base", "sil10", "sil21", "sil44", "aac32_16k", "opus24_48k")
MODES = ("single", "phase2")


def heldout(data: Path, cache: Path, predictor, model) -> dict:
    """TAILOR's voice alone on the cached clips of ``cache``, one pass vs two (see the module docstring)."""
    import soundfile as sf
    from sklearn.metrics import accuracy_score, f1_score

    from tailor_core.features import FeatureBundle
    from tailor_core.features.grid import n_steps_for
    from tailor_core.features.voice_states import HALF_STATE, HOP_SECONDS, blend_phases, encoder_states, pool_steps
    from training.voice_corpora import CLASSES, list_corpus

    of_label = {"happy": "happy", "sad": "sad", "anger": "angry", "surprise": "surprised", "disgust": "disgust",
                "fear": "fearful"}
    d = np.load(cache / "whisper_pad30.npz")
    files = [str(f) for f in d["files"]]
    label = {it.path.name: it.label for it in list_corpus(data, "ravdess")}
    shifted = cache / "whisper_pad30_shift160.npz"
    if not shifted.exists():
        paths = {p.name: p for p in (data / "ravdess_speech").glob("Actor_*/*.flac")}
        enc = [encoder_states(model, np.concatenate([np.zeros(HALF_STATE, np.float32),
                                                     sf.read(paths[f], dtype="float32")[0]])).astype(np.float16)
               for f in files]
        np.savez(shifted, states=np.concatenate(enc), lens=np.array([len(s) for s in enc]), files=np.array(files))
    e = np.load(shifted)
    split = lambda z: np.split(z["states"].astype(np.float32), np.cumsum(z["lens"])[:-1])  # noqa: E731
    res = {}
    for mode in MODES:
        truth, said = [], []
        for f, s0, s1 in zip(files, split(d), split(e), strict=True):
            if mode == "phase2":  # what voice_states.two_phase_states does, from the cached shifted pass
                s0 = blend_phases(s0, s1)
            n = n_steps_for(len(s0) * HOP_SECONDS)
            rows, mask = pool_steps(s0, n)
            pred = predictor.predict_bundle(replace(FeatureBundle.empty(n), audio=rows, audio_mask=mask),
                                            timeline=False)
            top = max(pred.scores, key=pred.scores.get)
            said.append(CLASSES.index(of_label[top]) if pred.labels else 0)
            truth.append(label[f])
        res[mode] = {"clips": len(truth), "accuracy": round(accuracy_score(truth, said), 4),
                     "macro_f1": round(f1_score(truth, said, average="macro"), 4)}
    return res


def summarise(out: dict) -> dict:
    res: dict = {}
    for mode in MODES:
        for v in VARIANTS:
            top = {n: max(o[mode][v], key=o[mode][v].get) for n, o in out.items()}
            base = {n: max(o[mode]["base"], key=o[mode]["base"].get) for n, o in out.items()}
            res.setdefault(mode, {})[v] = {
                "acc": round(float(np.mean([top[n] == o["label"] for n, o in out.items()])), 3),
                "flip": round(float(np.mean([top[n] != base[n] for n in out])), 3),
                "delta": round(float(np.mean([max(abs(o[mode][v][k] - o[mode]["base"][k]) for k in o[mode][v])
                                              for o in out.values()])), 4)}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "voice_phase.json")
    ap.add_argument("--heldout", type=Path, default=None, help="cache of RAVDESS actors 1-4 (see above)")
    ap.add_argument("--skip-items", action="store_true", help="only the held-out accuracy")
    args = ap.parse_args(argv)
    import torch

    from benchmarks.bench_robustness import CODECS, items
    from tailor_core.features import FeatureBundle
    from tailor_core.features.audio import resample_to_16k
    from tailor_core.features.grid import n_steps_for
    from tailor_core.features.media import decode_audio
    from tailor_core.features.voice_states import encoder_states, pool_steps, two_phase_states
    from tailor_core.predictor import load_model
    from training.voice_corpora import codec_roundtrip

    torch.set_num_threads(1)
    predictor = load_model(transcribe=False)
    model = predictor.extractor.speech.model

    def read(y: np.ndarray, mode: str) -> dict[str, float]:
        s = encoder_states(model, y) if mode == "single" else two_phase_states(model, y)
        n = n_steps_for(len(y) / 16_000)
        rows, mask = pool_steps(s, n)
        return predictor.predict_bundle(replace(FeatureBundle.empty(n), audio=rows, audio_mask=mask),
                                        timeline=False).scores

    result: dict = {}
    if args.heldout:
        result["heldout_actors_1-4"] = heldout(args.data, args.heldout, predictor, model)
        print(json.dumps(result["heldout_actors_1-4"]), flush=True)
    todo = [] if args.skip_items else items(args.data)
    rav = [t for t in todo if t["group"] == "ravdess_1-4"]  # actors interleaved: a partial run is balanced
    todo = [t for t in todo if t["group"] != "ravdess_1-4"] + rav[0::4] + rav[1::4] + rav[2::4] + rav[3::4]
    out: dict = {}
    t0 = time.time()
    for it in todo:
        y, _ = decode_audio(it["path"], 60)
        var = {"base": y, **{f"sil{ms}": np.concatenate([np.zeros(ms * 16, np.float32), y]) for ms in (10, 21, 44)}}
        for name in ("aac32_16k", "opus24_48k"):
            spec = CODECS[name]
            z = codec_roundtrip(y, *spec)
            var[name] = z if spec[3] == 16_000 else resample_to_16k(z, spec[3])
        out[it["name"]] = {"label": it["label"], "group": it["group"],
                           **{mode: {v: read(yy, mode) for v, yy in var.items()} for mode in MODES}}
        print(it["name"], f"{time.time() - t0:.0f}s", flush=True)
    if out:
        result.update({"items": len(out), "summary": summarise(out), "seconds": round(time.time() - t0)})
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
