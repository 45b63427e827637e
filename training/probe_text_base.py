"""Is a larger sentence encoder worth a retrain? The logistic-regression floor of a frozen base model, per domain.

    python -m training.probe_text_base --model /path/to/all-mpnet-base-v2 --data ../shared/data/goemotions_ekman \
        --cache /work/enc-cache/probe --report benchmarks/results/words_mpnet/probe.json

The same corpora, splits, features and probe as ``train_text.py --corpora goemotions,meld,semeval`` uses for its
floor (the mean of the frozen model's last token states, one-vs-rest logistic regression with every corpus at
weight 1, one pooled threshold vector tuned on validation), for any Hugging Face encoder directory given by
``--model``; without it, the shipped base (all-MiniLM-L6-v2). A tuned encoder gained over its own floor on MELD
(docs/encoders.md), so the floors of two base models say which one is worth tuning, for the cost of one forward
pass over the corpora instead of a fine-tuning run. Features are cached per model under ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from training.train_text import MAX_LEN, held_out_report, load_corpora, lr_probe

CORPORA = ["goemotions", "meld", "semeval"]
BASE_NAME = "all-MiniLM-L6-v2"  # the shipped base, the default --model


@torch.no_grad()
def mean_states(tok, model, words: list[list[str]], batch: int = 64) -> np.ndarray:
    """[N, hidden] mean of each text's last token states, its special tokens left out (as ``cache_split``)."""
    model.eval()
    order = np.argsort([len(w) for w in words])
    out = np.zeros((len(words), model.config.hidden_size), np.float32)
    t0 = time.time()
    for bi in range(0, len(order), batch):
        idx = order[bi: bi + batch]
        enc = tok([words[i] for i in idx], is_split_into_words=True, truncation=True, max_length=MAX_LEN,
                  padding=True, return_tensors="pt")
        last = model(**enc).last_hidden_state
        for j, i in enumerate(idx):
            n = int(enc["attention_mask"][j].sum())
            out[i] = last[j, 1: n - 1].mean(0).numpy() if n > 2 else last[j, :n].mean(0).numpy()
        if bi % (100 * batch) == 0:
            print(f"  {bi}/{len(words)} {time.time() - t0:.0f}s", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None, help="a Hugging Face encoder directory (default: MiniLM)")
    ap.add_argument("--data", type=Path, required=True, help="GoEmotions (Ekman) folder; MELD, SemEval beside it")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--report", type=Path, default=None)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-subset", type=int, default=0,
                    help="GoEmotions training texts kept (seeded; 0: all 43,410): a large model's pass is slow")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    from tailor_core.features.text_emotion import base_model_path

    torch.set_num_threads(args.threads)
    path = args.model or base_model_path()
    name = args.model.name if args.model else BASE_NAME
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True)
    data = load_corpora(CORPORA, args.data, args.data.parent / "meld", args.data.parent / "semeval2018_ec",
                        args.split_seed, args.train_subset, args.seed)
    cdir = args.cache / f"{name}_go{len(data['goemotions_train'][0])}_seed{args.seed}"
    cdir.mkdir(parents=True, exist_ok=True)
    t_all, xs = time.time(), {}
    for k, (w, _) in data.items():
        f = cdir / f"{k}.npy"
        if not f.exists():
            np.save(f, mean_states(tok, model, w))
            print(f"encoded {k} ({len(w)}) at {time.time() - t_all:.0f}s", flush=True)
        xs[k] = np.load(f)
    encode_s = round(time.time() - t_all)
    ys = {k: v[1] for k, v in data.items()}
    floor = held_out_report(lr_probe(xs, ys, CORPORA, {c: 1.0 for c in CORPORA}, args.seed), ys, CORPORA)
    headline = {c: floor[c]["pooled_val_thresholds"]["headline"] for c in CORPORA}
    print("LR floor", name, json.dumps(headline), flush=True)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps({
            "model": name, "hidden": model.config.hidden_size, "layers": model.config.num_hidden_layers,
            "texts": {k: len(v[0]) for k, v in data.items()}, "encode_seconds": encode_s,
            "train_subset": args.train_subset, "seed": args.seed, "split_seed": args.split_seed,
            "threads": args.threads, "headline": headline, "floor": floor}, indent=1) + "\n")


if __name__ == "__main__":
    main()
