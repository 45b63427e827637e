"""Lock-step parity check: the authors' TAILOR and ours, given the SAME weights and the SAME batches, with dropout
off, must compute the same loss, the same gradients and (with each code's own optimiser and schedule) the same
parameters after every step. Where they part, the two codes differ in something deterministic; where they stay
together, any gap between their learning curves comes from what is random (the initial draw, dropout masks,
the batch order).

    python benchmarks/parity_lockstep.py --reference ../shared/reference --steps 6 --train 256

Copies the authors' freshly initialised weights into our model (``authors_to_ours``: names mapped, the
discriminator's visual/audio rows swapped because the two codes number the modalities differently), draws
batches of 64 from a generated MOSEI-format file, and prints per step: both losses, the largest relative
gradient difference, the largest parameter difference after the update, and the learning rate of each.
``--dropout`` keeps both models in training mode instead (then the numbers differ by design; a sanity check
that the harness would see a difference). ``--init-stats`` instead compares the two codes' own initial draws
(torch seed 42 each): per mapped tensor, the standard deviation and mean of theirs and ours, and names any that
differ by more than 10% (or 0.05 in mean): the same initialiser gives the same distribution, not the same numbers.
Needs ``../shared/reference`` (not in this repo): a script, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_parity import authors_model  # noqa: E402
from tailor_core import TAILOR, TailorConfig  # noqa: E402
from training.data import load_data  # noqa: E402
from training.losses import tailor_loss  # noqa: E402
from training.optim import make_optimizer, warmup_linear_scheduler  # noqa: E402

_BLOCK = {"attention.self.query": "self_attn.query", "attention.self.key": "self_attn.key",
          "attention.self.value": "self_attn.value", "attention.output.dense": "self_attn.out",
          "attention.output.LayerNorm": "self_norm", "intermediate.dense": "ffn.0", "output.dense": "ffn.2",
          "output.LayerNorm": "ffn_norm",
          # decoder layer
          "slf_attn.att.query": "self_attn.query", "slf_attn.att.key": "self_attn.key",
          "slf_attn.att.value": "self_attn.value", "slf_attn.output.dense": "self_attn.out",
          "slf_attn.output.LayerNorm": "self_norm", "enc_attn.att.query": "cross_attn.query",
          "enc_attn.att.key": "cross_attn.key", "enc_attn.att.value": "cross_attn.value",
          "enc_attn.output.dense": "cross_attn.out", "enc_attn.output.LayerNorm": "cross_norm"}
_ENCODERS = {"bert": "encoders.text", "visual": "encoders.visual", "audio": "encoders.audio",
             "va_cross": "fuse_va", "vat_cross": "fuse_vat", "pc_cross": "fuse_pc"}
_FLAT = {"text_norm.text_norm2d": "encoders.text.project.0", "visual_norm.visual_norm2d": "encoders.visual.project.0",
         "audio_norm.audio_norm2d": "encoders.audio.project.0", "common_feature_extractor.0": "common.0",
         "common_classfier.0": "common_classifier", "private_feature_extractor.0.0": "private.text.0",
         "private_feature_extractor.1.0": "private.visual.0", "private_feature_extractor.2.0": "private.audio.0",
         "modal_discriminator.0": "discriminator.0", "modal_discriminator.3": "discriminator.3",
         "cross_classifier.dense": "classifier", "decoder.embeddings.word_embeddings": "label_embedding",
         "decoder.embeddings.LayerNorm": "label_norm"}
# The authors' discriminator classes are text 0, visual 1, audio 2; ours follow MODALITIES (text, audio, visual).
_DISCRIMINATOR_ROWS = [0, 2, 1]


def our_name(name: str) -> str | None:
    """The parameter of ours that an authors' parameter becomes; None for the parts outside their forward pass
    (the poolers)."""
    stem, leaf = name.rsplit(".", 1)
    if ".pooler." in name:
        return None
    if stem in _FLAT:
        return f"{_FLAT[stem]}.{leaf}"
    if stem.startswith("decoder.decoder.layer."):
        index, rest = stem[len("decoder.decoder.layer."):].split(".", 1)
        return f"decoder.{index}.{_BLOCK[rest]}.{leaf}"
    module, rest = stem.split(".", 1)
    prefix = _ENCODERS[module]
    if rest.startswith("encoder.layer."):
        index, inner = rest[len("encoder.layer."):].split(".", 1)
        return f"{prefix}.blocks.{index}.{_BLOCK[inner]}.{leaf}"
    return {"embeddings.word_embeddings": f"{prefix}.project.1.{leaf}",
            "embeddings.position_embeddings": f"{prefix}.position.{leaf}",
            "embeddings.token_type_embeddings": f"{prefix}.token_type.{leaf}",
            "embeddings.LayerNorm": f"{prefix}.norm.{leaf}"}[rest]


def authors_to_ours(theirs: torch.nn.Module, ours: TAILOR) -> dict[str, str]:
    """Copy every parameter of the authors' model into ours (in place); returns {their name: our name}.
    Position tables are longer in ours: their rows go first, the rest are never used at these lengths."""
    mapping, own = {}, dict(ours.named_parameters())
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            target = our_name(name)
            if target is None:
                continue
            value = p.detach()
            if target.startswith("discriminator.3"):
                value = value[_DISCRIMINATOR_ROWS]
            own[target][: value.shape[0]].copy_(value)
            mapping[name] = target
    missing = set(own) - set(mapping.values())
    if missing:
        raise RuntimeError(f"parameters of ours with no counterpart: {sorted(missing)}")
    return mapping


def init_stats(theirs: torch.nn.Module, ours: TAILOR) -> list[dict]:
    """Per tensor of the authors' model with a counterpart in ours (neither copied): the std and mean of each
    code's own initial draw, and whether they differ by more than 10% in std or 0.05 in mean."""
    own, rows = dict(ours.named_parameters()), []
    for name, p in theirs.named_parameters():
        target = our_name(name)
        if target is None:
            continue
        a, b = p.detach().float(), own[target][: p.shape[0]].detach().float()
        sa, sb = (float(x.std()) if x.numel() > 1 else 0.0 for x in (a, b))
        ma, mb = float(a.mean()), float(b.mean())
        rows.append({"theirs": name, "ours": target, "std": [round(sa, 5), round(sb, 5)],
                     "mean": [round(ma, 5), round(mb, 5)],
                     "differs": abs(sa - sb) > 0.1 * max(sa, sb, 1e-8) or abs(ma - mb) > 0.05})
    return rows


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    # The floor keeps gradients that are zero in exact arithmetic (attention key biases: softmax ignores a
    # constant added to every key's score) from reading as a 100% gap between two rounding errors.
    return float((a - b).norm() / (b.norm() + 1e-6))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    p.add_argument("--data", type=Path, help="MOSEI-format file (default: generate one)")
    p.add_argument("--train", type=int, default=256)
    p.add_argument("--seed", type=int, default=1, help="generator seed of the file")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--total-steps", type=int, default=144, help="schedule length (768 samples x 12 epochs)")
    p.add_argument("--dropout", action="store_true", help="training mode (dropout on) for both")
    p.add_argument("--dropout-draws", type=int, default=0, metavar="K",
                   help="after the steps: K training-mode losses of each model on one batch (same weights), "
                        "mean and spread: dropout placed and scaled alike gives the same distribution")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init-stats", action="store_true", help="compare the two codes' own initial draws and stop")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.init_stats:
        torch.manual_seed(42)
        theirs, _ = authors_model(args.reference.resolve())
        torch.manual_seed(42)
        rows = init_stats(theirs, TAILOR(TailorConfig()))
        differ = [r for r in rows if r["differs"]]
        print(json.dumps({"tensors compared": len(rows), "differ": len(differ), "which": differ}, indent=1))
        return 0

    data = args.data
    if data is None:
        data = Path(tempfile.mkdtemp()) / "lockstep.pt"
        subprocess.run([sys.executable, str(args.reference / "make_mosei_like.py"), str(data), "--seed",
                        str(args.seed), "--train", str(args.train), "--valid", "64", "--test", "64"], check=True)
    split = load_data(data)["train"]

    torch.manual_seed(42)
    theirs, AuthorsAdam = authors_model(args.reference.resolve())
    ours = TAILOR(TailorConfig())
    mapping = authors_to_ours(theirs, ours)
    pairs = [(dict(theirs.named_parameters())[a], dict(ours.named_parameters())[o], a, o) for a, o in mapping.items()]

    no_decay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]  # as run_authors.py groups them
    named = list(theirs.named_parameters())
    groups = [{"params": [q for n, q in named if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
              {"params": [q for n, q in named if any(nd in n for nd in no_decay)], "weight_decay": 0.0}]
    opt_theirs = AuthorsAdam(groups, lr=5e-5, warmup=0.1, schedule="warmup_linear", t_total=args.total_steps,
                             weight_decay=0.01, max_grad_norm=1.0)
    opt_ours = make_optimizer("bertadam", ours, 5e-5, 0.01)
    sched_ours = warmup_linear_scheduler(opt_ours, args.total_steps, 0.1)
    decayed_theirs = {id(q) for q in groups[0]["params"]}
    decayed_ours = {id(q) for q in opt_ours.param_groups[0]["params"]}
    decay_mismatch = [a for t, o, a, _ in pairs if (id(t) in decayed_theirs) != (id(o) in decayed_ours)]
    theirs.train(args.dropout)
    ours.train(args.dropout)

    g = torch.Generator().manual_seed(0)
    labels, label_mask = torch.arange(6), torch.ones(6, dtype=torch.long)
    print(json.dumps({"parameters mapped": len(mapping), "decay groups differ for": decay_mismatch[:5]}))
    for step in range(args.steps):
        idx = torch.randperm(len(split.labels), generator=g)[:64]
        t, a, v, y = split.text[idx], split.audio[idx], split.visual[idx], split.labels[idx]
        ones = torch.ones(t.shape[:2], dtype=torch.long)
        loss_t, *_ = theirs(t, ones, v, ones, a, ones, labels, label_mask, groundTruth_labels=y, training=True)
        loss_t.backward()
        loss_o = tailor_loss(ours(t, a, v), y, ours.config).total
        loss_o.backward()
        grad_gap, grad_at = max((_rel(o.grad[: tp.shape[0]], tp.grad[_DISCRIMINATOR_ROWS]
                                      if on.startswith("discriminator.3") else tp.grad), an)
                                 for tp, o, an, on in pairs)
        norm_t = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        norm_o = torch.nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
        lr_t = max(opt_theirs.get_lr() or [0.0])
        lr_o = opt_ours.param_groups[0]["lr"]
        opt_theirs.step()
        opt_theirs.zero_grad()
        opt_ours.step()
        sched_ours.step()
        opt_ours.zero_grad()
        worst, worst_name = 0.0, ""
        for tp, o, an, on in pairs:
            ref = tp.detach()[_DISCRIMINATOR_ROWS] if on.startswith("discriminator.3") else tp.detach()
            d = float((o.detach()[: ref.shape[0]] - ref).abs().max())
            if d > worst:
                worst, worst_name = d, an
        row = {"step": step + 1, "loss authors": round(float(loss_t), 6), "loss ours": round(float(loss_o), 6),
               "grad norm authors": round(float(norm_t), 5), "grad norm ours": round(float(norm_o), 5),
               "worst relative grad gap": f"{grad_gap:.2e}", "grad gap at": grad_at, "lr authors": lr_t,
               "lr ours": lr_o, "largest parameter gap": f"{worst:.2e}", "at": worst_name}
        print(json.dumps(row), flush=True)
    if args.dropout_draws:
        idx = torch.randperm(len(split.labels), generator=g)[:64]
        t, a, v, y = split.text[idx], split.audio[idx], split.visual[idx], split.labels[idx]
        ones = torch.ones(t.shape[:2], dtype=torch.long)
        theirs.train()
        ours.train()
        draws: dict[str, list[float]] = {"authors": [], "ours": []}
        with torch.no_grad():
            for _ in range(args.dropout_draws):
                loss_t, *_ = theirs(t, ones, v, ones, a, ones, labels, label_mask, groundTruth_labels=y, training=True)
                draws["authors"].append(float(loss_t))
                draws["ours"].append(float(tailor_loss(ours(t, a, v), y, ours.config).total))
            theirs.eval()
            ours.eval()
            no_dropout = float(tailor_loss(ours(t, a, v), y, ours.config).total)
        for name, xs in draws.items():
            x = torch.tensor(xs)
            print(json.dumps({"model": name, "draws": len(xs), "loss mean": round(float(x.mean()), 5),
                              "sd": round(float(x.std()), 5),
                              "standard error": round(float(x.std()) / len(xs) ** 0.5, 5),
                              "loss without dropout": round(no_dropout, 5)}), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
