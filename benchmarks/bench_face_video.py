"""Faces in video: the face-expression network on real video frames and on FER+ faces through a video codec.

Reads each face-expression weights file given (``--weights``; default: the shipped one) on the same faces:

* **takes**: the labelled talking takes of ``bench_robustness.items`` with video: three RAVDESS takes of one actor
  (Actor 05 reading a sentence: happy, sad, fearful; 1280x720) and the two examples re-encoded from the happy and
  sad ones (640 px), frames sampled at 10 fps through the app's own path (``iter_video_frames`` -> VIDEO-mode
  tracker -> ``align_face``). Per take: the mean class probabilities over its face frames, whether the take's
  emotion is the top of the six TAILOR emotions (per take and per frame), and the mass on neutral. Five readings
  of three takes of one person: a check, not a statistic.
* **FER+ test as video** (``CONDITIONS``): every FER+ test image (votes kept as in ``bench_face_expression.py``)
  scaled up to a face of ``face`` px on a 256x256 grey frame, its light scaled by ``gain`` with Poisson-like
  shot noise of ``noise`` grey levels at mid-grey, all frames encoded as one H.264 video at ``--crf`` (default 35,
  a low-bitrate webcam stream) and decoded, then found and aligned as a still (``FaceAnalyzer.still_detection``).
  Majority-vote accuracy over the 8 FER+ classes, a missed face counted as an error. ``clean`` is the same test
  images from the crop cache (``face_crops.py``).

The codec is a real one (libx264 via PyAV) and the light a sensor's, not the block-DCT and gamma stand-ins that
``train_face --video-aug`` trains with.

    OMP_NUM_THREADS=1 python benchmarks/bench_face_video.py --data ../shared/data \
        --cache /work/enc-cache/fer_crops --weights assets/face_expression.safetensors \
        --weights /work/face-candidate/face_expression.safetensors --out benchmarks/results/face_video.json
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

from benchmarks.bench_robustness import items  # noqa: E402
from tailor_core.features.face_expression import (  # noqa: E402
    CACHE_SIDE,
    CLASSES,
    CROP_SIDE,
    TAILOR_FROM_FER,
    FaceExpressionModel,
    align_face,
)
from tailor_core.features.media import iter_video_frames  # noqa: E402
from tailor_core.features.visual import FaceAnalyzer  # noqa: E402
from training.train_face import accuracy, kept  # noqa: E402

LABELS6 = ("happy", "sad", "anger", "surprise", "disgust", "fear")  # TAILOR's order, as TAILOR_FROM_FER
# name -> (face side px, light gain, shot noise in grey levels at mid-grey)
CONDITIONS: dict[str, tuple[int, float, float]] = {"h264": (192, 1.0, 0.0), "h264_small": (64, 1.0, 0.0),
                                                  "h264_dim": (192, 0.3, 3.0)}
FPS = 10.0
MAX_SECONDS = 30.0


def take_crops(fa: FaceAnalyzer, path: Path) -> np.ndarray:
    """[N, 48, 48] aligned crops of the frames (10 fps) of one clip where the tracker finds a face."""
    crops = []
    with fa.tracker() as tr:
        for t, rgb in iter_video_frames(path, MAX_SECONDS, fps=FPS):
            det = tr.detect(rgb, t)
            if det.landmarks is not None:
                crops.append(align_face(rgb, det.landmarks))
    return np.stack(crops) if crops else np.zeros((0, CROP_SIDE, CROP_SIDE), np.uint8)


def fer_video(fa: FaceAnalyzer, images: np.ndarray, crf: int, face: int, gain: float, noise: float,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops [N, 48, 48] and found [N] of FER+ images [N, 48, 48] after the video round trip of the
    docstring (a ``face``-px face, light ``gain``, shot ``noise``, H.264 at ``crf``)."""
    import io

    import av

    side = 256
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = side, side, "yuv420p"
        st.options = {"crf": str(crf), "preset": "veryfast"}
        o = (side - face) // 2
        for im in images:
            frame = np.full((side, side), 128.0)
            frame[o : o + face, o : o + face] = _resize(im.astype(np.float64), face)
            frame *= gain
            if noise:  # shot noise: variance proportional to the light, `noise` levels at mid-grey
                frame += rng.standard_normal(frame.shape) * noise * np.sqrt(frame / (128 * gain))
            frame = np.repeat(frame.clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
            for pkt in st.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    buf.seek(0)
    crops = np.zeros((len(images), CROP_SIDE, CROP_SIDE), np.uint8)
    found = np.zeros(len(images), bool)
    with av.open(buf) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i >= len(images):
                break
            rgb = fr.to_ndarray(format="rgb24")
            det, prepared = fa.still_detection(rgb)
            if det.landmarks is not None:
                crops[i], found[i] = align_face(prepared, det.landmarks), True
    return crops, found


def _resize(im: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of a square grey image to ``side`` x ``side`` (what a camera's scaler does)."""
    n = im.shape[0]
    pos = (np.arange(side) + 0.5) * n / side - 0.5
    i0 = np.clip(np.floor(pos).astype(int), 0, n - 1)
    i1, f = np.clip(i0 + 1, 0, n - 1), np.clip(pos - i0, 0, 1)
    rows = im[i0] * (1 - f)[:, None] + im[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None] + rows[:, i1] * f[None]


def read_takes(fx: FaceExpressionModel, takes: dict[str, dict]) -> dict:
    """Per-take and pooled readings of one network."""
    rows, right_takes, right_frames, n_frames, neutral_mass = {}, 0, 0, 0, []
    for name, t in takes.items():
        if not len(t["crops"]):
            rows[name] = {"label": t["label"], "frames": 0}
            continue
        _, p = fx.forward(t["crops"])
        six = p[:, list(TAILOR_FROM_FER)]
        mean = p.mean(0)
        k = LABELS6.index(t["label"])
        top6 = LABELS6[int(mean[list(TAILOR_FROM_FER)].argmax())]
        rows[name] = {"label": t["label"], "frames": len(p), "top6": top6,
                      "frames_top6_right": round(float((six.argmax(1) == k).mean()), 3),
                      "mean_probs": {c: round(float(v), 3) for c, v in zip(CLASSES, mean)}}
        right_takes += top6 == t["label"]
        right_frames += int((six.argmax(1) == k).sum())
        n_frames += len(p)
        neutral_mass.append(float(mean[0]))
    return {"takes_top6_right": f"{right_takes}/{len(takes)}",
            "frames_top6_right": round(right_frames / max(n_frames, 1), 3),
            "neutral_mass": round(float(np.mean(neutral_mass)), 3) if neutral_mass else None, "takes": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--cache", type=Path, required=True, help="FER+ crop cache (face_crops.py): test.npz")
    ap.add_argument("--weights", type=Path, action="append", default=[])
    ap.add_argument("--crf", type=int, default=35)
    ap.add_argument("--limit", type=int, default=0, help="first N FER+ test images (0 = all)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    weights = args.weights or [ROOT / "assets" / "face_expression.safetensors"]
    fa = FaceAnalyzer().load()
    t0 = time.time()
    takes = {it["name"]: {"label": it["label"], "crops": take_crops(fa, it["path"])}
             for it in items(args.data) if it["group"] != "ravdess_1-4" and it["path"].suffix == ".mp4"}
    print(f"takes: {sum(len(t['crops']) for t in takes.values())} face frames, {time.time() - t0:.0f}s", flush=True)

    d = np.load(args.cache / "test.npz")
    keep = kept(d["votes"])
    votes, cached = d["votes"][keep], d["crops"][keep]
    found_clean = d["found"][keep]
    images = np.load(args.data / "ferplus" / "test.npz")["images"][keep]
    if args.limit:
        votes, cached, found_clean, images = votes[: args.limit], cached[: args.limit], found_clean[: args.limit], \
            images[: args.limit]
    o = (CACHE_SIDE - CROP_SIDE) // 2
    clean = cached[:, o : o + CROP_SIDE, o : o + CROP_SIDE]
    sets = {"clean": (clean, found_clean)}
    for name, (face, gain, noise) in CONDITIONS.items():
        t0 = time.time()
        sets[name] = fer_video(fa, images, args.crf, face, gain, noise)
        print(f"FER+ test, {name}: face found {sets[name][1].mean():.3f}, {time.time() - t0:.0f}s", flush=True)

    res = {"crf": args.crf, "conditions": CONDITIONS, "n_fer_test": len(votes), "fps": FPS,
           "face_found": {k: round(float(f.mean()), 4) for k, (_, f) in sets.items()}, "networks": {}}
    for w in weights:
        fx = FaceExpressionModel(w, expected_sha256="").load()
        r = {f"fer_{k}": accuracy(fx.forward(c)[1].argmax(1), votes, f) for k, (c, f) in sets.items()}
        r.update(read_takes(fx, takes))
        res["networks"][str(w)] = r
        fer = ", ".join(f"{k} {r[f'fer_{k}']['acc']}" for k in sets)
        print(f"{w}: FER+ {fer}; takes top-6 {r['takes_top6_right']}, frames {r['frames_top6_right']}, "
              f"neutral mass {r['neutral_mass']}", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
