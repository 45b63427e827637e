"""TAILOR's voice alone on voices it never met, with and without a neutral reference of the same speaker.

    python benchmarks/bench_voice_reference.py --data ../shared/data --cache /work/enc-cache/voice_ref \\
        --out benchmarks/results/voice_reference/reference.json          # ~27 min on 2 cores (caching), then ~2 min

The question and the decision rule were written first: ``benchmarks/results/voice_reference/RULE.md``. Every file
goes through the app's own file path (two Whisper phases, 30 s window, 0.5 s step means; cached as
``CACHE/<corpus>.npz``); each file is then scored alone by the checkpoint, voice only. A file's answer is its top
label when one passes its threshold, else neutral (7 classes; RAVDESS calm and EmoDB boredom are neutral).

Reference conditions, per speaker (``--seed`` draws the files): ``neutral2`` (2 of the speaker's neutral files,
the rule's condition), ``neutral1``, ``neutral4``, ``any2`` / ``any8`` (2 / 8 files of any emotion: an unlabelled
session), ``all`` (every file of the speaker: transductive, an upper bound), and ``neutral2_scaled``
(``neutral2`` with a per-dimension scale as well). A condition scores the speaker's files minus its own reference
files, and its "without" figure is on exactly those files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tailor_core.config import LABELS  # noqa: E402
from tailor_core.features import FeatureBundle  # noqa: E402
from tailor_core.features.grid import SAMPLE_RATE, n_steps_for  # noqa: E402
from tailor_core.features.voice_states import file_states, pool_steps  # noqa: E402
from training.voice_corpora import CLASSES, LABEL_OF_CLASS, Item, list_corpus  # noqa: E402

TEST_ACTORS = {1, 2, 3, 4}  # the demo checkpoint's test voices (training/prepare_demo.py)
POP_ACTORS = set(range(8, 25))  # its training voices
RAVDESS_NEUTRAL = "01"  # the emotion field of RAVDESS's neutral (not calm) files
CLASS_OF_LABEL = {label: CLASSES.index(c) for c, label in LABEL_OF_CLASS.items()}
CONDITIONS = ("neutral2", "neutral1", "neutral4", "any2", "all", "neutral2_scaled", "any8")  # new ones last: the
# files each draws depend on the draws before it


def is_neutral_reference(it: Item) -> bool:
    """Neutral speech fit to be a reference: RAVDESS 01 (not calm), TESS neutral, EmoDB N (not boredom)."""
    if it.speaker.startswith("ravdess:"):
        return it.path.stem.split("-")[2] == RAVDESS_NEUTRAL
    return it.label == 0 and it.extra != "boredom"


def corpus_items(data: Path, corpus: str) -> list[Item]:
    items = list_corpus(data, corpus)
    if corpus == "tess":
        return items[::4]  # as voice_corpora's default: both speakers, 100 files per emotion
    if corpus == "ravdess":
        return [it for it in items if int(it.speaker.split(":")[1]) in TEST_ACTORS
                or (int(it.speaker.split(":")[1]) in POP_ACTORS and is_neutral_reference(it))]
    return items


def cache_steps(data: Path, cache: Path, corpus: str, model) -> dict[str, np.ndarray]:
    """{file name: [n_steps, 384] float32} of a corpus through the app's file voice path, cached."""
    import soundfile as sf

    out = cache / f"{corpus}.npz"
    if not out.exists():
        t0, rows, names = time.time(), [], []
        items = corpus_items(data, corpus)
        for i, it in enumerate(items):
            y, sr = sf.read(it.path, dtype="float32")
            assert sr == SAMPLE_RATE and y.ndim == 1, it.path
            vecs, mask = pool_steps(file_states(model, y), n_steps_for(len(y) / SAMPLE_RATE))
            rows.append(vecs[: int(mask.sum())].astype(np.float16))
            names.append(it.path.name)
            if i % 100 == 0:
                print(f"{corpus} {i}/{len(items)} {time.time() - t0:.0f}s", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, rows=np.concatenate(rows), lens=np.array([len(r) for r in rows]), files=np.array(names))
        tmp.rename(out)
        print(f"{corpus}: {time.time() - t0:.0f}s for {len(items)} files", flush=True)
    d = np.load(out)
    parts = np.split(d["rows"].astype(np.float32), np.cumsum(d["lens"])[:-1])
    return {str(f): p for f, p in zip(d["files"], parts, strict=True)}


def answer(predictor, rows: np.ndarray) -> int:
    """The class TAILOR's voice-only reading of one file gives (0 = neutral: no label over its threshold)."""
    bundle = replace(FeatureBundle.empty(len(rows)), audio=rows.astype(np.float32),
                     audio_mask=np.ones(len(rows), bool))
    pred = predictor.predict_bundle(bundle, timeline=False)
    if not pred.labels:
        return 0
    return CLASS_OF_LABEL[max(pred.scores, key=pred.scores.get)]


def score(truth: np.ndarray, pred: np.ndarray) -> dict:
    """Accuracy, and macro-F1 over the classes the scored files hold."""
    from sklearn.metrics import f1_score

    present = sorted(set(truth.tolist()))
    return {"acc": round(float(np.mean(pred == truth)), 4),
            "macro_f1": round(float(f1_score(truth, pred, labels=present, average="macro")), 4)}


def reference_files(cond: str, items: list[Item], rng: np.random.Generator) -> list[str]:
    neutral = [it.path.name for it in items if is_neutral_reference(it)]
    names = [it.path.name for it in items]
    if cond == "all":
        return names
    if cond.startswith("any"):
        return list(rng.choice(names, int(cond[3:]), replace=False))
    k = {"neutral1": 1, "neutral2": 2, "neutral2_scaled": 2, "neutral4": 4}[cond]
    return list(rng.choice(neutral, min(k, len(neutral)), replace=False))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="../shared/data")
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--checkpoint", default=None, help="default: the shipped checkpoint")
    p.add_argument("--corpora", default="ravdess,tess,emodb")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="Whisper's CPU threads while caching")
    p.add_argument("--conditions", default=",".join(CONDITIONS))
    p.add_argument("--population", type=Path, default=None,
                   help="a prepare_demo cache's items_audio_train.npz: mu_pop = the mean of all its RAVDESS voice "
                        "steps (every emotion; as prepare_demo --centred-voice-share centres training voices) "
                        "instead of the training actors' neutral files")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    from tailor_core.features.speech import SpeechRecognizer
    from tailor_core.predictor import load_model

    assert set(CLASS_OF_LABEL) == set(LABELS) and len(CLASSES) == 7
    model = SpeechRecognizer(cpu_threads=args.threads).model
    corpora = args.corpora.split(",")
    steps = {c: cache_steps(args.data, args.cache, c, model) for c in corpora}
    if "ravdess" not in steps:
        steps["ravdess"] = cache_steps(args.data, args.cache, "ravdess", model)
    rav = {it.path.name: it for it in corpus_items(args.data, "ravdess")}
    if args.population is None:
        pop = np.concatenate([steps["ravdess"][n] for n, it in rav.items()
                              if int(it.speaker.split(":")[1]) in POP_ACTORS])
    else:
        from training.prepare_demo import load_ragged

        items = load_ragged(args.population)
        # every voice step of the cache's RAVDESS items, as prepare_demo.speech_mean takes them (a generated clip
        # is the one with no statement), so that both mu_pop and sd_pop describe the same population
        pop = np.concatenate([s for s, st in zip(items["seqs"], items["statement"], strict=True)
                              if s is not None and len(s) and str(st)])
    mu_pop, sd_pop = pop.mean(0), pop.std(0)
    predictor = load_model(args.checkpoint, transcribe=False)
    rng = np.random.default_rng(args.seed)
    results: dict = {"checkpoint": str(predictor.checkpoint), "seed": args.seed, "population_steps": len(pop),
                     "population": str(args.population or "RAVDESS training actors' neutral files"),
                     "classes": list(CLASSES), "corpora": {}}
    for corpus in corpora:
        items = [it for it in corpus_items(args.data, corpus)
                 if corpus != "ravdess" or int(it.speaker.split(":")[1]) in TEST_ACTORS]
        speakers = sorted({it.speaker for it in items})
        plain = {it.path.name: answer(predictor, steps[corpus][it.path.name]) for it in items}
        table = {}
        for cond in args.conditions.split(","):
            truth, without, with_ref, n_ref, by_speaker = [], [], [], [], {}
            for spk in speakers:
                first = len(truth)
                own = [it for it in items if it.speaker == spk]
                ref = reference_files(cond, own, rng)
                ref_rows = np.concatenate([steps[corpus][n] for n in ref])
                n_ref.append(len(ref))
                shift = mu_pop - ref_rows.mean(0)
                scale = sd_pop / np.maximum(ref_rows.std(0), 1e-3) if cond.endswith("_scaled") else None
                for it in own:
                    if it.path.name in ref and cond != "all":
                        continue
                    x = steps[corpus][it.path.name]
                    x2 = (x - ref_rows.mean(0)) * scale + mu_pop if scale is not None else x + shift
                    truth.append(it.label)
                    without.append(plain[it.path.name])
                    with_ref.append(answer(predictor, x2))
                t = np.array(truth[first:])
                by_speaker[spk] = {"files": len(t)} | {
                    f"{k}_acc": round(float(np.mean(np.array(v[first:]) == t)), 4)
                    for k, v in (("without", without), ("with", with_ref))}
            truth = np.array(truth)
            table[cond] = {"files": int(len(truth)), "reference_files_per_speaker": sorted(set(n_ref)),
                           "without": score(truth, np.array(without)), "with": score(truth, np.array(with_ref)),
                           "by_speaker": by_speaker}
            print(f"{corpus:8s} {cond:16s} n={len(truth):4d} without acc {table[cond]['without']['acc']:.3f} "
                  f"-> with {table[cond]['with']['acc']:.3f} (macro-F1 {table[cond]['without']['macro_f1']:.3f} "
                  f"-> {table[cond]['with']['macro_f1']:.3f})", flush=True)
        results["corpora"][corpus] = {"speakers": len(speakers), "conditions": table}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
