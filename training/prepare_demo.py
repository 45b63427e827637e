"""Build the demo training data: real per-modality emotion corpora through the app's own feature extractors.

    python -m training.prepare_demo --data ../shared/data --out cache

No paired face + voice + words emotion corpus is available offline, so examples are *composed* from three
real, labelled, single-modality corpora (see ``../shared/README.md``):

* text   GoEmotions mapped to Ekman (multi-label; joy → happy; neutral → no label), splits as given;
* audio  RAVDESS speech, split by actor (test actors 1–5, validation 6–7, training the other 17; actor 5 is
  the person in the example clips, so the app's examples are voices the model never heard);
* visual FER+ face crops (FER2013 images, 10 crowd votes each), splits as given; a label is on when at least
  ``FER_VOTE_SHARE`` of the valid votes name it, an image whose votes are mostly neutral has no label, images
  where "unknown" or "not a face" wins are dropped (a still becomes a short sequence, lightly augmented);
* "nothing" audio: silence and room noise (hum, hiss, pink noise at -60 to -25 dB), no label, generated here
  with a seed, so that silence is an example of no emotion rather than something the model never saw.

Stage 1 extracts and caches features per item (resumable: chunks already on disk are skipped; ``--workers``
processes). Stage 2 composes examples of ``LENGTH`` steps (0.5 s each): a random subset of modalities is
present (all three 40%, two 30%, one 30%); each item's class is "no emotion" with probability ``NEUTRAL_SHARE``
(30%), else one of the six; half the examples *agree* (every present item shows the same
emotion, neutral included), half are drawn independently and so mostly *conflict* (happy words with a sad
voice → {happy, sad}). The target is the union of the labels the present items carry. A voice without
GoEmotions text gets, half of the time, the words actually spoken in RAVDESS (a neutral sentence: no label),
as the app's speech-to-text would give. Validation and test examples use held-out items only. With
``--text-unseen-by`` the training examples' sentences are only those a words encoder trained on part of GoEmotions
(``train_text --train-subset``) never saw, so their features are no cleaner than unseen sentences' (the "encoder
leak" of ``training.report_demo``); not how the shipped checkpoint was built (model card). With
``--live-voice-share F`` a share F of the training examples' voices come with the features a live update computes
(Whisper's ``LiveOptions.voice_pad_seconds`` window, ``items_audio_train_live.npz``) instead of a file's (30 s),
drawn by a generator of their own, so every other draw is the same as without it; validation and test keep the file's
features (tried with the 10 s live window of the time: not shipped, model card "Live-window voices"). With
``--voice-aug-share F`` a share F of the training voices come from one channel-augmented copy of their file
(``items_audio_train_aug.npz``; ``training.voice_corpora.augment``: gain, noise, a lossy codec round trip as a
browser or phone would send it, 0-40 ms of leading silence), so that lossy, shifted sound reads as clean sound
does; the same rules (own generator; validation and test as recorded). A voice picked for both comes live. With
``--extra-voices tess,emodb`` the training voices also hold other corpora's speakers (``EXTRA_VOICES``: which
speakers stay held out, and how many of the others' files are used), with no words (their sentences are not
RAVDESS's two); validation and test stay RAVDESS's (``items_audio_train+tess.npz``).

Written to ``--out``: ``demo.npz`` (train / valid / test, for ``python -m training.train``), and
``eval_text.npz``, ``eval_audio.npz``, ``eval_visual.npz``: every held-out item of one corpus alone (the other
two modalities absent; ``test`` for the report, ``valid`` for its per-corpus threshold diagnostic), plus
``items_*.npz`` (per-item features, for the baselines of ``training.report_demo``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from tailor_core.config import LABELS
from training.synthetic import nothing_audio

LENGTH = 16                # steps per training example (8 s): the demo model's window
NEUTRAL = len(LABELS)      # class index of "no emotion" when sampling agreeing examples
# How often an item is drawn from the "no emotion" pool (the six emotions share the rest equally). Uniform over
# the seven classes (1/7) left neutral so rare that a neutral sentence alone got a label 60% of the time; GoEmotions
# itself is ~30% neutral.
NEUTRAL_SHARE = 0.3
RAVDESS_TO_LABEL = {"03": "happy", "04": "sad", "05": "anger", "06": "fear", "07": "disgust", "08": "surprise"}
GOEMOTIONS_TO_LABEL = {"joy": "happy", "sadness": "sad", "anger": "anger", "surprise": "surprise",
                       "disgust": "disgust", "fear": "fear"}
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                   "unknown", "NF")
FERPLUS_TO_LABEL = {"happiness": "happy", "surprise": "surprise", "sadness": "sad", "anger": "anger",
                    "disgust": "disgust", "fear": "fear"}
FER_VOTE_SHARE = 0.3  # a label is on when at least 30% of an image's valid votes name it
NOTHING_ITEMS = {"train": 240, "valid": 30, "test": 60}  # silence / room-noise clips per split
RAVDESS_SPLIT_ACTORS = {"test": {1, 2, 3, 4, 5}, "valid": {6, 7}}  # everyone else trains
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
SPLIT_FILES = {"train": "train", "valid": "dev", "test": "test"}
CHUNK = 256
#: Training voices from other corpora (``--extra-voices``): the speakers held out of training (to measure voices the
#: model never met) and every how many of the other speakers' files (in path order) are used. TESS: its older
#: speaker only, a quarter of her words (50 files per emotion, so one voice does not outweigh 17 RAVDESS actors).
EXTRA_VOICES: dict[str, dict] = {"tess": {"held_out": ("tess:YAF",), "every": 4},
                                 "emodb": {"held_out": ("emodb:03", "emodb:08", "emodb:09"), "every": 1}}
# Voice variants of the training items, in the order they are preferred when one voice is picked for several:
# each has its own generator (seed below) that picks which placed voices come in it.
VOICE_VARIANT_SEEDS = {"live": 10, "aug": 11, "centred": 12}
AUG_SEED = 7  # the channel augmentation's own draws (per file: this and the file's name)
CENTRED_SEED = 13  # the speaker centring's own draws (which of an actor's files make a voice's reference)
CENTRED_FILES = (4, 16)  # a centred voice's reference: this many (inclusive range) other files of its actor

_extractor = None


def _init_worker() -> None:
    import torch

    global _extractor
    torch.set_num_threads(1)
    from tailor_core.features import FeatureExtractor

    _extractor = FeatureExtractor(transcribe=False)
    _extractor.speech.cpu_threads = 1  # one process per core


def _text_chunk(texts: list[str]) -> list[np.ndarray]:
    return [_extractor.text_encoder.word_vectors(t)[1].astype(np.float16) for t in texts]


def _audio_chunk(paths: list[str], live: bool = False, aug: bool = False) -> list[np.ndarray]:
    """Voice features of each file; a path "nothing:<seed>" is a generated silence / room-noise clip. ``live``:
    encoded as a live update encodes audio (``LiveOptions.voice_pad_seconds`` window) instead of as a file (30 s);
    ``aug``: one channel-augmented copy of the audio (:func:`augment_seed` of its path)."""
    import soundfile as sf

    from tailor_core.features.audio import resample_to_16k, to_mono_float
    from tailor_core.features.voice_states import clip_voice_features
    from tailor_core.options import LiveOptions
    from training.voice_corpora import augment

    out = []
    for p in paths:
        if p.startswith("nothing:"):
            y = nothing_audio(int(p.split(":")[1]))
        else:
            samples, sr = sf.read(p, dtype="float32")
            y = resample_to_16k(to_mono_float(samples), sr)
        if aug:
            y = augment(y, augment_seed(p))
        if live:  # as FeatureExtractor.voice, in the live window
            vecs, mask = clip_voice_features(_extractor.speech.model, y, pad_seconds=LiveOptions().voice_pad_seconds)
            out.append(vecs[: int(mask.sum())].astype(np.float32))
        else:
            out.append(_extractor.voice(y).astype(np.float32))
    return out


# what extracts each voice variant (partials of a module-level function: picklable for the worker pool)
VOICE_VARIANT_CHUNKS: dict[str, Callable[[list[str]], list[np.ndarray]]] = {
    "live": partial(_audio_chunk, live=True), "aug": partial(_audio_chunk, aug=True)}


def augment_seed(path: str) -> int:
    """The channel augmentation's seed for one training file: fixed by its name, so a resumed or re-ordered run
    augments every file the same way."""
    import zlib

    return AUG_SEED * 1_000_003 + zlib.crc32(Path(path).name.encode())


def _face_chunk(images: np.ndarray) -> list[np.ndarray | None]:
    return [_extractor.faces.still(img) for img in images]


def _run_chunks(name: str, items: list, fn: Callable, parts: Path, workers: int) -> list:
    """Apply ``fn`` to ``items`` in chunks, in ``workers`` processes; finished chunks are cached on disk."""
    parts.mkdir(parents=True, exist_ok=True)
    chunks = [items[i: i + CHUNK] for i in range(0, len(items), CHUNK)]
    todo = [i for i in range(len(chunks)) if not (parts / f"{name}_{i:05d}.npz").exists()]
    if todo:
        ctx = get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            bar = tqdm(total=len(items), desc=name, initial=sum(len(chunks[i]) for i in range(len(chunks))
                                                                 if i not in todo))
            for i, result in zip(todo, pool.imap(fn, [chunks[i] for i in todo])):
                np.savez(parts / f"{name}_{i:05d}.npz", **pack(result))
                bar.update(len(chunks[i]))
            bar.close()
    return [a for i in range(len(chunks)) for a in unpack(np.load(parts / f"{name}_{i:05d}.npz"))]


def pack(arrays: list[np.ndarray | None]) -> dict[str, np.ndarray]:
    """Ragged list of [n_i, D] (or [D]) arrays, None for "not found" → flat arrays for ``np.savez``."""
    seqs = [None if a is None else np.asarray(a, np.float32).reshape(-1, np.shape(a)[-1]) for a in arrays]
    dim = next((a.shape[1] for a in seqs if a is not None), 1)
    data = [a for a in seqs if a is not None]
    return {"data": np.concatenate(data) if data else np.zeros((0, dim), np.float32),
            "lengths": np.array([0 if a is None else len(a) for a in seqs], np.int64),
            "found": np.array([a is not None for a in seqs], bool)}


def unpack(z) -> list[np.ndarray | None]:
    data, lengths, found = z["data"], z["lengths"], z["found"]  # read each array from the .npz once
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return [data[offsets[i]: offsets[i + 1]] if ok else None for i, ok in enumerate(found)]


def _multi_hot(names) -> np.ndarray:
    y = np.zeros(len(LABELS), np.float32)
    for n in names:
        if n in LABELS:
            y[LABELS.index(n)] = 1
    return y


def speech_mean(seqs: list, paths: list[str]) -> np.ndarray:
    """[D] mean of every voice step of the RAVDESS files among ``paths`` (generated "nothing:" clips left out)."""
    return np.concatenate([s for s, p in zip(seqs, paths, strict=True)
                           if s is not None and len(s) and not p.startswith("nothing:")]).mean(0)


def centred_voices(seqs: list, paths: list[str], seed: int = CENTRED_SEED) -> list[np.ndarray]:
    """The "centred" voice variant: each voice item [steps, D] moved by ``mu - mean(steps of k other files of the
    same actor)`` (k drawn in ``CENTRED_FILES``; ``mu`` = :func:`speech_mean` of all of them), as a session that
    has heard k of a speaker's utterances would centre them. Generated silence / noise is centred by a random
    actor's files, as it would be in someone's session."""
    rng = np.random.default_rng(seed)
    actors = [None if p.startswith("nothing:") else Path(p).stem.split("-")[6] for p in paths]
    by_actor: dict[str, list[int]] = {}
    for i, a in enumerate(actors):
        if a is not None and seqs[i] is not None and len(seqs[i]):
            by_actor.setdefault(a, []).append(i)
    mu = speech_mean(seqs, paths)
    names = sorted(by_actor)
    out = []
    for i, x in enumerate(seqs):
        actor = actors[i] if actors[i] is not None else names[int(rng.integers(len(names)))]
        others = [j for j in by_actor[actor] if j != i]
        k = int(rng.integers(CENTRED_FILES[0], CENTRED_FILES[1] + 1))
        ref = np.concatenate([seqs[j] for j in rng.choice(others, min(k, len(others)), replace=False)]).mean(0)
        out.append(None if x is None else (x - ref + mu).astype(np.float32))
    return out


# ----------------------------------------------------------------------------------------------------------
# Stage 1: items


def load_goemotions(root: Path, split: str, limit: int | None, rng: np.random.Generator,
                    unseen_by: Path | None = None):
    """Sentences and multi-hot labels [N, 6] of one split; with ``unseen_by`` (a words encoder's JSON config, for
    the training split) only the sentences that encoder was not trained on."""
    names = (root / "goemotions_ekman" / "labels.txt").read_text().split()
    texts, labels = [], []
    for line in (root / "goemotions_ekman" / f"{SPLIT_FILES[split]}.tsv").read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        texts.append(parts[0])
        labels.append(_multi_hot(GOEMOTIONS_TO_LABEL.get(names[int(i)], "") for i in parts[1].split(",")))
    idx = np.arange(len(texts))
    if unseen_by is not None and split == "train":
        idx = np.setdiff1d(idx, _encoder_texts(unseen_by, len(texts)))
    if limit and limit < len(idx):
        idx = np.sort(rng.choice(idx, limit, replace=False))
    return [texts[i] for i in idx], np.stack([labels[i] for i in idx])


def _encoder_texts(config: Path, n_texts: int) -> np.ndarray:
    """Indices of the GoEmotions training texts the words encoder of ``config`` (``text_emotion.json``) saw."""
    from training.train_text import train_subset

    cfg = json.loads(config.read_text())
    if cfg["train_texts"] >= n_texts:
        raise SystemExit(f"error: {config}: that words encoder was trained on every training sentence "
                         "(train it with train_text --train-subset N to leave sentences for TAILOR)")
    return train_subset(n_texts, cfg["train_texts"], cfg["seed"])


def load_ravdess(root: Path, split: str, seed: int = 0):
    """RAVDESS files of this split's actors, plus ``NOTHING_ITEMS[split]`` generated silence / noise clips."""
    paths = sorted((root / "ravdess_speech").glob("Actor_*/*.flac"))
    chosen, labels, statements = [], [], []
    for p in paths:
        fields = p.stem.split("-")
        actor = int(fields[6])
        own = next((s for s, actors in RAVDESS_SPLIT_ACTORS.items() if actor in actors), "train")
        if own == split:
            chosen.append(str(p))
            labels.append(_multi_hot([RAVDESS_TO_LABEL.get(fields[2], "")]))
            statements.append(fields[4])
    for i in range(NOTHING_ITEMS[split]):
        chosen.append(f"nothing:{seed * 100_000 + i * 10 + list(NOTHING_ITEMS).index(split)}")
        labels.append(np.zeros(len(LABELS), np.float32))
        statements.append("")  # nothing said
    return chosen, np.stack(labels), statements


def ferplus_labels(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot labels [N, 6] from FER+ votes [N, 10], and which images to keep (unknown / not-a-face lose)."""
    votes = np.asarray(votes, np.float64)
    col = {n: i for i, n in enumerate(FERPLUS_COLUMNS)}
    valid = votes[:, [col[n] for n in FERPLUS_COLUMNS[:8]]].sum(1)
    keep = (votes.argmax(1) < col["unknown"]) & (valid > 0)
    share = votes / np.maximum(valid, 1)[:, None]
    y = np.zeros((len(votes), len(LABELS)), np.float32)
    for name, label in FERPLUS_TO_LABEL.items():
        y[:, LABELS.index(label)] = share[:, col[name]] >= FER_VOTE_SHARE
    return y, keep


def load_fer(root: Path, split: str, limit: int | None, rng: np.random.Generator):
    z = np.load(root / "ferplus" / f"{split}.npz", allow_pickle=False)
    labels, keep = ferplus_labels(z["votes"])
    idx = np.flatnonzero(keep)
    if limit and limit < len(idx):
        idx = np.sort(rng.choice(idx, limit, replace=False))
    return z["images"][idx], labels[idx]


def load_extra_voices(root: Path, corpora: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Training files of other voice corpora (``EXTRA_VOICES``): paths and labels [N, 6] (neutral, EmoDB's
    boredom: no label)."""
    from training.voice_corpora import CLASSES, LABEL_OF_CLASS, list_corpus

    paths, labels = [], []
    for corpus in corpora:
        spec = EXTRA_VOICES[corpus]
        for it in [it for it in list_corpus(root, corpus) if it.speaker not in spec["held_out"]][:: spec["every"]]:
            paths.append(str(it.path))
            labels.append(_multi_hot([LABEL_OF_CLASS.get(CLASSES[it.label], "")]))
    return paths, np.stack(labels) if labels else np.zeros((0, len(LABELS)), np.float32)


def load_voices(root: Path, split: str, seed: int = 0, extra: tuple[str, ...] = ()):
    """:func:`load_ravdess`, then (training split only) the files of :func:`load_extra_voices` (statement "")."""
    paths, labels, statements = load_ravdess(root, split, seed)
    if split == "train" and extra:
        more, y = load_extra_voices(root, extra)
        paths, labels, statements = paths + more, np.concatenate([labels, y]), statements + [""] * len(more)
    return paths, labels, statements


def _voice_features(name: str, paths: list[str], fn: Callable, parts: Path, workers: int) -> list:
    """``fn`` over voice paths, each corpus's run of files cached under its own name (RAVDESS and generated clips
    as ``name``, another corpus as ``name_<corpus>``), so adding a corpus re-uses the RAVDESS features."""
    from itertools import groupby

    def corpus(path: str) -> str:
        return "" if path.startswith("nothing:") or "ravdess_speech" in Path(path).parts else Path(path).parent.name

    out = []
    for c, run in groupby(paths, key=corpus):
        out += _run_chunks(f"{name}_{c}" if c else name, list(run), fn, parts, workers)
    return out


def extract_items(root: Path, out: Path, workers: int, limits: dict, seed: int,
                  text_unseen_by: Path | None = None, voice_variants: tuple[str, ...] = (),
                  extra_voices: tuple[str, ...] = ()) -> dict:
    """Per-item features of every corpus and split, cached in ``out/items_<corpus>_<split>.npz``; with
    ``text_unseen_by``, training sentences only from those that words encoder did not train on; for each of
    ``voice_variants`` (names of ``VOICE_VARIANT_SEEDS``), the training voices also in that variant
    (``items_audio_train_<name>.npz``: "live" as a live update encodes them, "aug" channel-augmented); with
    ``extra_voices`` the training voices also hold those corpora's (:func:`load_voices`; ``items_audio_train+<c>``)."""
    if extra_voices and "centred" in voice_variants:
        raise ValueError("--extra-voices and --centred-voice-share together are not supported (centring needs "
                         "RAVDESS actor numbers)")
    items = {}
    for i, split in enumerate(("train", "valid", "test")):
        # one generator per corpus and split, so a resumed run (some item files already cached) draws the same
        # sentences and faces as a fresh one
        def rng(corpus: int, split_index: int = i) -> np.random.Generator:
            return np.random.default_rng([seed, split_index, corpus])

        f = out / f"items_text_{split}.npz"
        if not f.exists():
            texts, y = load_goemotions(root, split, limits["text"].get(split), rng(0), text_unseen_by)
            vecs = _run_chunks(f"text_{split}", texts, _text_chunk, out / "parts", workers)
            _save_ragged(f, vecs, y)
        voices = f"audio_{split}" + ("".join(f"+{c}" for c in extra_voices) if split == "train" else "")
        f = out / f"items_{voices}.npz"
        if not f.exists():
            paths, y, statements = load_voices(root, split, seed, extra_voices)
            feats = _voice_features(f"audio_{split}", paths, _audio_chunk, out / "parts", workers)
            _save_ragged(f, feats, y, statement=np.array(statements))
        f = out / f"items_visual_{split}.npz"
        if not f.exists():
            images, y = load_fer(root, split, limits["visual"].get(split), rng(2))
            vecs = _run_chunks(f"visual_{split}", list(images), _face_chunk, out / "parts", workers)
            _save_ragged(f, vecs, y)
        items[split] = {m: load_ragged(out / f"items_{voices if m == 'audio' else f'{m}_{split}'}.npz")
                        for m in ("text", "audio", "visual")}
        for name in voice_variants if split == "train" else ():
            f = out / f"items_{voices}_{name}.npz"
            if not f.exists():
                paths, y, statements = load_voices(root, split, seed, extra_voices)
                if name == "centred":  # derived from the plain voices, no new encoding
                    feats = centred_voices(items[split]["audio"]["seqs"], paths)
                else:
                    feats = _voice_features(f"audio_{split}_{name}", paths, VOICE_VARIANT_CHUNKS[name],
                                            out / "parts", workers)
                _save_ragged(f, feats, y, statement=np.array(statements))
            items[split][f"audio_{name}"] = load_ragged(f)
    return items


def _save_ragged(path: Path, arrays: list, labels: np.ndarray, **extra) -> None:
    np.savez(path, **pack(arrays), labels=labels, **extra)


def load_ragged(path: Path) -> dict:
    """{"seqs": list of [n_i, D] arrays (None where nothing was found), "labels": [N, 6], ...extra}."""
    z = np.load(path, allow_pickle=False)
    out = {k: z[k] for k in z.files if k not in ("data", "lengths", "found")}
    out["seqs"] = unpack(z)
    return out


# ----------------------------------------------------------------------------------------------------------
# Stage 2: composed examples


def _pools(labels: np.ndarray, usable: np.ndarray) -> list[np.ndarray]:
    """Item indices per class (6 labels, then neutral = no label); multi-label items sit in several pools."""
    pools = [np.flatnonzero(usable & (labels[:, j] > 0)) for j in range(len(LABELS))]
    pools.append(np.flatnonzero(usable & (labels.sum(1) == 0)))
    return pools


class Composer:
    """Draws composed examples from one split's items; every array is [LENGTH, D] with a step mask."""

    def __init__(self, items: dict, statements: dict[str, np.ndarray], rng: np.random.Generator,
                 visual_noise: np.ndarray, voice_shares: dict[str, float] | None = None):
        self.items, self.statements, self.rng, self.visual_noise = items, statements, rng, visual_noise
        # a voice is placed in variant v (items["audio_<v>"]) with probability voice_shares[v]; each variant has
        # its own generator, drawn once per placed voice, so the examples drawn (and every other variant's picks)
        # are the same whatever the shares
        shares = voice_shares or {}
        self.voice_variants = [(name, shares[name], np.random.default_rng(seed))
                               for name, seed in VOICE_VARIANT_SEEDS.items()
                               if shares.get(name, 0) > 0 and f"audio_{name}" in items]
        self.pools = {m: _pools(items[m]["labels"], np.array([s is not None and len(s) > 0
                                                              for s in items[m]["seqs"]]))
                      for m in ("text", "audio", "visual")}
        self.dims = {m: next(s.shape[-1] for s in items[m]["seqs"] if s is not None) for m in self.pools}

    def empty(self) -> dict:
        d = {m: np.zeros((LENGTH, self.dims[m]), np.float32) for m in self.pools}
        d.update({f"{m}_mask": np.zeros(LENGTH, bool) for m in self.pools})
        d["labels"] = np.zeros(len(LABELS), np.float32)
        d["carriers"] = np.zeros((len(LABELS), 3), bool)  # which modality carries each label
        return d

    def emotion(self) -> int:
        """A class to draw an item from: ``NEUTRAL`` with probability ``NEUTRAL_SHARE``, else one of the six."""
        return NEUTRAL if self.rng.random() < NEUTRAL_SHARE else int(self.rng.integers(NEUTRAL))

    def draw(self, modality: str, cls: int | None) -> int:
        pools = self.pools[modality]
        if cls is None or not len(pools[cls]):
            cls = self.rng.choice([c for c in range(len(pools)) if len(pools[c])])
        return int(self.rng.choice(pools[cls]))

    def place(self, ex: dict, modality: str, index: int, n_steps: int, offset: int) -> None:
        from tailor_core.features.text import spread_evenly

        seq = self.items[modality]["seqs"][index]
        if modality == "audio":
            picked = [name for name, share, rng in self.voice_variants if rng.random() < share]
            if picked:
                seq = self.items[f"audio_{picked[0]}"]["seqs"][index]
            x, mask = seq[:n_steps], np.ones(min(len(seq), n_steps), bool)
        elif modality == "text":
            x, mask = spread_evenly(seq.astype(np.float32), n_steps)
        else:  # a still face shown for n_steps, lightly jittered, with an occasional missed detection
            x = seq[0][None] + self.rng.normal(size=(n_steps, seq.shape[-1])) * self.visual_noise
            mask = self.rng.random(n_steps) > 0.1
            mask[self.rng.integers(n_steps)] = True
        ex[modality][offset: offset + len(x)] = x * mask[:, None]
        ex[f"{modality}_mask"][offset: offset + len(x)] = mask
        y = self.items[modality]["labels"][index]
        ex["labels"] = np.maximum(ex["labels"], y)
        ex["carriers"][:, ("text", "audio", "visual").index(modality)] |= y > 0

    def example(self, present: tuple[str, ...], agree: bool) -> dict:
        ex = self.empty()
        cls = self.emotion() if agree else None
        chosen = {m: self.draw(m, cls if agree else self.emotion()) for m in present}
        if "audio" in chosen:
            n_steps = min(len(self.items["audio"]["seqs"][chosen["audio"]]), LENGTH)
        else:
            n_steps = int(self.rng.integers(4, LENGTH + 1))
        offset = int(self.rng.integers(LENGTH - n_steps + 1))
        for m, i in chosen.items():
            self.place(ex, m, i, n_steps, offset)
        if "audio" in chosen and "text" not in chosen and self.rng.random() < 0.5:
            # The words really spoken in the RAVDESS clip: a neutral sentence, no label.
            from tailor_core.features.text import spread_evenly

            statement = str(self.items["audio"]["statement"][chosen["audio"]])
            if not statement:  # silence or noise: nothing was said
                return ex
            x, mask = spread_evenly(self.statements[statement], n_steps)
            ex["text"][offset: offset + n_steps], ex["text_mask"][offset: offset + n_steps] = x, mask
        return ex

    def sample(self, n: int) -> dict:
        patterns = [("text", "audio", "visual")] * 4 + [("text", "audio"), ("text", "visual"), ("audio", "visual")]
        patterns += [("text",), ("audio",), ("visual",)]
        weights = np.array([0.1] * 4 + [0.1] * 3 + [0.1] * 3)
        rows = [self.example(patterns[self.rng.choice(len(patterns), p=weights / weights.sum())],
                             agree=self.rng.random() < 0.5) for _ in range(n)]
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}

    def single(self, modality: str, image_steps: int) -> dict:
        """Every item of one modality alone (for the single-modality evaluation)."""
        rows = []
        for i, seq in enumerate(self.items[modality]["seqs"]):
            if seq is None or not len(seq):
                continue
            ex = self.empty()
            if modality == "audio":
                n = min(len(seq), LENGTH)
            elif modality == "text":
                from tailor_core.features.text import default_text_steps

                n = min(default_text_steps(len(seq)), LENGTH)
            else:
                n = image_steps
            self.place(ex, modality, i, n, 0)
            if modality == "visual":  # evaluation: the still as it is, no jitter, no missed steps
                ex["visual_mask"][:n] = True
                ex["visual"][:n] = seq[0]
            rows.append(ex)
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def _save_splits(path: Path, splits: dict[str, dict]) -> None:
    np.savez_compressed(path, **{f"{s}/{k}": v for s, d in splits.items() for k, v in d.items()})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.prepare_demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with goemotions_ekman/, ravdess_speech/, ferplus/")
    p.add_argument("--out", required=True, help="cache folder (not committed)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--text-train", type=int, default=0, help="GoEmotions training sentences to use (0: all)")
    p.add_argument("--text-unseen-by", type=Path, default=None, metavar="TEXT_EMOTION_JSON",
                   help="compose training examples only from GoEmotions sentences the words encoder with this "
                        "config did not train on (train_text --train-subset); use the same encoder's weights "
                        "(TAILOR_TEXT_EMOTION_MODEL) for the features")
    p.add_argument("--face-train", type=int, default=0, help="FER+ training images to use (0: all)")
    p.add_argument("--face-valid", type=int, default=3000)
    p.add_argument("--examples", type=int, nargs=3, default=(30000, 3000, 4000),
                   metavar=("TRAIN", "VALID", "TEST"), help="composed examples per split")
    p.add_argument("--live-voice-share", type=float, default=0.0,
                   help="share of the training examples' voices encoded as a live update encodes them (its "
                        "window, LIVE_PAD_SECONDS, instead of a file's 30 s), so that the live view's voice reads "
                        "as a file's does")
    p.add_argument("--voice-aug-share", type=float, default=0.0,
                   help="share of the training examples' voices taken from a channel-augmented copy of their file "
                        "(gain, noise, a lossy codec, leading silence), so that lossy, shifted sound reads as clean "
                        "sound does")
    p.add_argument("--centred-voice-share", type=float, default=0.0,
                   help="share of the training examples' voices centred on their speaker's mean (of 4-16 other "
                        "files of the actor: centred_voices), as a session's running mean would centre them")
    p.add_argument("--extra-voices", default="", metavar="CORPORA",
                   help=f"training voices from other corpora too, comma-separated ({', '.join(EXTRA_VOICES)}; "
                        "their held-out speakers: EXTRA_VOICES), under ../shared/data/<corpus>/")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    extra = tuple(c for c in args.extra_voices.split(",") if c)
    if unknown := [c for c in extra if c not in EXTRA_VOICES]:
        p.error(f"--extra-voices: unknown corpus {', '.join(unknown)} (one of {', '.join(EXTRA_VOICES)})")
    root, out = Path(args.data), Path(args.out)
    for sub in ("goemotions_ekman", "ravdess_speech", "ferplus", *extra):
        if not (root / sub).is_dir():
            print(f"error: {root / sub} not found (--data should be ../shared/data)", file=sys.stderr)
            return 2
    out.mkdir(parents=True, exist_ok=True)
    limits = {"text": {"train": args.text_train}, "visual": {"train": args.face_train, "valid": args.face_valid}}
    shares = {"live": args.live_voice_share, "aug": args.voice_aug_share, "centred": args.centred_voice_share}
    items = extract_items(root, out, args.workers, limits, args.seed, args.text_unseen_by,
                          tuple(name for name, share in shares.items() if share > 0), extra)

    _init_worker()
    statements = {k: _extractor.text_encoder.word_vectors(v)[1] for k, v in RAVDESS_STATEMENTS.items()}
    train_faces = np.stack([s[0] for s in items["train"]["visual"]["seqs"] if s is not None])
    noise = 0.1 * train_faces.std(0)
    composed = {}
    for i, (split, n) in enumerate(zip(("train", "valid", "test"), args.examples)):
        composer = Composer(items[split], statements, np.random.default_rng(args.seed + i), noise, shares)
        composed[split] = composer.sample(n)
        print(f"{split}: {n} composed examples; label rate {composed[split]['labels'].mean(0).round(3).tolist()}",
              file=sys.stderr)
    _save_splits(out / "demo.npz", composed)
    from tailor_core.features import IMAGE_STEPS

    alone = {split: Composer(items[split], statements, np.random.default_rng(args.seed), noise)
             for split in ("valid", "test")}
    for m in ("text", "audio", "visual"):
        singles = {split: c.single(m, IMAGE_STEPS) for split, c in alone.items()}
        _save_splits(out / f"eval_{m}.npz", singles)
        print(f"eval_{m}: " + ", ".join(f"{len(v['labels'])} {k}" for k, v in singles.items()) + " items alone",
              file=sys.stderr)
    print(f"wrote {out / 'demo.npz'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
