"""Voice across corpora: a leave-one-corpus-out table for the voice readout.

The readout's input is the app's (``readouts.voice_vector``: mean and std over the 0.5 s steps of Whisper tiny.en
encoder states, ``pool_steps``), from the states ``training.voice_corpora`` caches (the window ``--mode``
names: the measured table used ``nopad``). Seven classes
(``voice_corpora.CLASSES``; calm and EmoDB's boredom counted as neutral, TESS's pleasant surprise as surprise).
Columns: train on two of RAVDESS / TESS / EmoDB and test on the third, for each; and unseen RAVDESS actors 19-24
(train on RAVDESS actors 1-18, plus the other corpora for the multi-corpus recipes). Rows (recipes):

* ``shipped``: the readout in ``assets/`` as it is (its eighth class, *no voice*, counts as a miss);
* ``single``: today's recipe refitted: RAVDESS actors 1-18 only, scaler + logistic regression;
* ``multi``: the training corpora pooled, every corpus the same total weight, classes balanced;
* ``multi+utt``: ``multi`` with each input vector normalised on its own (``utterance_norm``: the mean half and the
  std half each standardised over their 384 values), computable from one clip;
* ``multi+spk``: ``multi`` with every speaker's vectors standardised by that speaker's own mean and std (test
  speakers too, with all of their files: transductive, a measurement of what speaker normalisation could give;
  the app never has a speaker's other recordings); ``multi+spk<k>`` (e.g. ``multi+spk8``): the same readout, each
  test speaker standardised by the mean and std of k of their files drawn at random (any emotion), as a session
  that has heard k utterances could; ``multi+spkmean`` / ``multi+spkmean<k>``: the same with every speaker only
  centred on their mean (no scaling), which fewer files estimate better;
* ``multi+aug``: ``multi`` plus one augmented copy (``--aug``; gain, noise, codec and leading silence:
  ``voice_corpora.augment``) of half of every training corpus's files, if its states are cached (test sets clean).

For every recipe C is chosen on the training data alone: grouped CV over the training corpora (leave one training
corpus out: the transfer the table measures) for the multi-corpus rows, over 6 folds of actors for ``single``.
Metrics: accuracy over the seven classes and macro-F1 over the classes the test corpus has (EmoDB has no surprise;
``emodb_no_boredom``: EmoDB without its boredom files).

    OMP_NUM_THREADS=1 python -m training.voice_transfer --data ../shared/data --cache /work/enc-cache --seed 0 \
        --mode nopad --out benchmarks/results/voice_transfer.json      # ~3 min once the states are cached

(the states: ``training.voice_corpora``'s two commands; ``--mode pad30`` once a file's window is cached, which
also adds the shipped readout's row). Nothing here writes weights: the table decides whether a multi-corpus
readout is worth fitting with ``train_voice_readout`` on the app's windows (it was not, docs/encoders.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tailor_core.features.grid import n_steps_for
from tailor_core.features.voice_states import HOP_SECONDS, pool_steps
from tailor_core.readouts import voice_vector

from .voice_corpora import CLASSES, CORPORA, list_corpus

UNSEEN_ACTORS = range(19, 25)
C_GRID = (0.003, 0.01, 0.03, 0.1)


def split_rows(arr: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    return np.split(arr.astype(np.float32), np.cumsum(lens)[:-1])


def utterance_norm(x: np.ndarray) -> np.ndarray:
    """[n, 2D] -> each row's mean half and std half standardised over their own D values (one clip suffices)."""
    x = np.asarray(x, np.float64)
    d = x.shape[1] // 2
    parts = [x[:, :d], x[:, d:]]
    return np.concatenate([(p - p.mean(1, keepdims=True)) / (p.std(1, keepdims=True) + 1e-6) for p in parts], 1)


def speaker_norm(x: np.ndarray, speakers: np.ndarray, files: int = 0, seed: int = 0,
                 scale: bool = True) -> np.ndarray:
    """Every speaker's rows standardised by that speaker's own mean and std (``scale=False``: centred on the mean
    only): over all of the speaker's rows, or, with ``files`` > 0, over that many of them drawn at random (any
    emotion; what a session would have heard)."""
    out = np.array(x, np.float64)
    rng = np.random.default_rng(seed)
    for s in np.unique(speakers):
        k = np.flatnonzero(speakers == s)
        ref = out[rng.choice(k, min(files, len(k)), replace=False)] if files else out[k]
        out[k] = (out[k] - ref.mean(0)) / (ref.std(0) + 1e-6 if scale else 1.0)
    return out


def load_vectors(data: Path, cache: Path, corpus: str, mode: str = "pad30", tag: str = "") -> dict:
    """Readout inputs of a cached corpus -> {"x" [n, 768], "y", "speaker", "extra", "files"}."""
    d = np.load(cache / corpus / f"whisper_{mode}{tag}.npz")
    items = {it.path.name: it for it in list_corpus(data, corpus)}
    x = np.stack([voice_vector(pool_steps(s, n_steps_for(len(s) * HOP_SECONDS))[0])
                  for s in split_rows(d["states"], d["lens"])])
    its = [items[str(f)] for f in d["files"]]
    return {"x": x, "y": np.array([i.label for i in its]), "speaker": np.array([i.speaker for i in its]),
            "extra": np.array([i.extra for i in its]), "files": np.array([str(f) for f in d["files"]])}


def corpus_weights(corpus: np.ndarray) -> np.ndarray:
    """Sample weights giving every corpus the same total weight (mean weight 1)."""
    names, counts = np.unique(corpus, return_counts=True)
    w = np.zeros(len(corpus))
    for n, c in zip(names, counts, strict=True):
        w[corpus == n] = len(corpus) / (len(names) * c)
    return w


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, weights: np.ndarray | None, seed: int,
        folds: int | None = None) -> tuple[object, float]:
    """Scaler + multinomial LR (classes balanced); C by grouped CV (macro-F1) -> (fitted pipeline, C)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def make(c: float):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000,
                                                                   random_state=seed))

    w = np.ones(len(y)) if weights is None else weights
    n_folds = folds or len(np.unique(groups))
    best, best_f1 = C_GRID[0], -1.0
    if n_folds >= 2:
        for c in C_GRID:
            pred = np.zeros_like(y)
            for tr, te in GroupKFold(n_folds).split(x, y, groups):
                pred[te] = make(c).fit(x[tr], y[tr], logisticregression__sample_weight=w[tr]).predict(x[te])
            f1 = f1_score(y, pred, average="macro")
            if f1 > best_f1 + 1e-9:
                best, best_f1 = c, f1
    return make(best).fit(x, y, logisticregression__sample_weight=w), best


def scores(y: np.ndarray, pred: np.ndarray) -> dict:
    from sklearn.metrics import f1_score

    present = sorted(set(y.tolist()))
    return {"acc": round(float(np.mean(pred == y)), 4),
            "macro_f1": round(float(f1_score(y, pred, labels=present, average="macro")), 4), "n": int(len(y))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data")
    ap.add_argument("--cache", type=Path, required=True, help="training.voice_corpora's cache")
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--mode", default="pad30", help="the cached encoder window (voice_corpora --modes); "
                    "the shipped readout is only read on pad30")
    ap.add_argument("--recipes", default="shipped,single,multi,multi+utt,multi+spk,multi+aug")
    ap.add_argument("--aug", default="_aug", help="cache tag of the augmented copies (skipped if not cached)")
    ap.add_argument("--states-tag", default="", help="voice_corpora --tag of another encoder's states (e.g. _base)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    corpora = args.corpora.split(",")
    recipes = args.recipes.split(",")
    if args.mode != "pad30" or args.states_tag:
        recipes = [r for r in recipes if r != "shipped"]  # fitted on tiny.en's 30 s / 20 s windows: not comparable
    tag, aug_tag = args.states_tag, args.states_tag + args.aug
    vec = {c: load_vectors(args.data, args.cache, c, args.mode, tag=tag) for c in corpora}
    aug = {c: load_vectors(args.data, args.cache, c, args.mode, tag=aug_tag) for c in corpora
           if (args.cache / c / f"whisper_{args.mode}{aug_tag}.npz").exists()}
    # the evaluation sets: each corpus whole (LOCO), unseen RAVDESS actors
    tests: dict[str, tuple[str, np.ndarray]] = {c: (c, np.ones(len(vec[c]["y"]), bool)) for c in corpora}
    rav_actor = np.array([int(s.split(":")[1]) for s in vec["ravdess"]["speaker"]])
    unseen = np.isin(rav_actor, list(UNSEEN_ACTORS))
    tests["ravdess_19-24"] = ("ravdess", unseen)
    fitted: dict = {}  # the same training set is fitted once
    results: dict = {"classes": list(CLASSES), "seed": args.seed, "mode": args.mode, "states_tag": tag,
                     "files": {c: int(len(v["y"])) for c, v in vec.items()}, "rows": {}}
    for recipe in recipes:
        if recipe == "multi+aug" and not aug:
            continue
        row: dict = {}
        for test, (tc, tmask) in tests.items():
            if recipe in ("shipped", "single"):
                if tc == "ravdess" and test == "ravdess":
                    continue  # the single-corpus readout is trained on RAVDESS
                train = {"ravdess": ~unseen}
            elif test == "ravdess_19-24":
                train = {c: (~unseen if c == "ravdess" else np.ones(len(vec[c]["y"]), bool)) for c in corpora}
            else:
                train = {c: np.ones(len(vec[c]["y"]), bool) for c in corpora if c != tc}
            xt, yt = vec[tc]["x"][tmask], vec[tc]["y"][tmask]
            if recipe == "shipped":
                from tailor_core.readouts import VOICE_CLASSES, VoiceReadout

                ro = VoiceReadout().load()
                pred = np.array([int(np.argmax(list(ro.probs_of(v).values()))) for v in xt])
                pred[pred >= len(CLASSES)] = -1  # "no voice": a miss
                assert VOICE_CLASSES[: len(CLASSES)] == ("neutral", "happy", "sad", "anger", "fear", "disgust",
                                                         "surprise")
                row[test] = scores(yt, pred)
            else:
                src = {c: vec[c] for c in train}
                x = np.concatenate([src[c]["x"][m] for c, m in train.items()])
                y = np.concatenate([src[c]["y"][m] for c, m in train.items()])
                spk = np.concatenate([src[c]["speaker"][m] for c, m in train.items()])
                corp = np.concatenate([[c] * int(m.sum()) for c, m in train.items()])
                if recipe == "multi+aug":
                    for c, m in train.items():
                        if c in aug:
                            a = aug[c]
                            keep = np.isin(a["files"], src[c]["files"][m])
                            x = np.concatenate([x, a["x"][keep]])
                            y = np.concatenate([y, a["y"][keep]])
                            spk = np.concatenate([spk, a["speaker"][keep]])
                            corp = np.concatenate([corp, [c] * int(keep.sum())])
                if recipe == "multi+utt":
                    x, xt = utterance_norm(x), utterance_norm(xt)
                if recipe.startswith("multi+spk"):  # multi+spk<k>: test speakers' stats from k of their files
                    scale = not recipe.startswith("multi+spkmean")  # multi+spkmean<k>: centred, not scaled
                    k = int("".join(ch for ch in recipe if ch.isdigit()) or 0)
                    x = speaker_norm(x, spk, scale=scale)
                    xt = speaker_norm(xt, vec[tc]["speaker"][tmask], k, args.seed, scale)
                key = (recipe.rstrip("0123456789"), tuple(sorted(train)),  # multi+spk<k> fits as multi+spk
                       "ravdess" in train and bool(unseen[train["ravdess"]].any()))
                if key not in fitted:
                    if recipe == "single":
                        actors = np.array([int(s.split(":")[1]) for s in spk])
                        fitted[key] = fit(x, y, actors, None, args.seed, folds=6)
                    else:
                        fitted[key] = fit(x, y, corp, corpus_weights(corp), args.seed)
                model, c = fitted[key]
                row[test] = {**scores(yt, model.predict(xt)), "C": c, "train": sorted(train)}
            if tc == "emodb":
                nb = vec["emodb"]["extra"][tmask] != "boredom"
                p = pred if recipe == "shipped" else model.predict(xt)
                row[f"{test}_no_boredom"] = scores(yt[nb], p[nb])
            print(recipe, test, json.dumps(row[test]), f"{time.time() - t0:.0f}s", flush=True)
        results["rows"][recipe] = row
    results["seconds"] = round(time.time() - t0)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results["rows"], indent=1))


if __name__ == "__main__":
    main()
