"""Held-out report for the face-expression CNN: FER+ test through the app's own pipeline.

Every FER+ test image goes through the runtime path (``FaceAnalyzer.still_detection``: FaceLandmarker as in
``FaceAnalyzer.still``, then ``align_face`` and ``FaceExpressionModel``); a missed face counts as an error.
Test set: the 3,573 FER+ test images minus those where "unknown"/"not a face" wins (FER+ convention).
Metric: majority-vote accuracy over the 8 FER+ classes (strict: argmax of the votes, ties -> first class;
also reported: a prediction among the tied top classes counts). Floors on the same images: a logistic
regression on the current visual features (52 blendshapes + head pose), and one on blendshapes + pose + the CNN's
embedding and probabilities (the new per-frame visual vector). The LR training features come from the crop cache
of the training split (``training/face_crops.py``).

    OMP_NUM_THREADS=1 python benchmarks/bench_face_expression.py --data ../shared/data/ferplus \
        --cache /work/enc-cache/fer_crops --out benchmarks/results/face_expression.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tailor_core.features.face_expression import (  # noqa: E402
    CACHE_SIDE,
    CROP_SIDE,
    N_CLASSES,
    FaceExpressionModel,
)
from tailor_core.features.visual import FaceAnalyzer  # noqa: E402
from training.train_face import accuracy, kept  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True, help="crop cache with train.npz (LR floors)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    d = np.load(args.data / "test.npz")
    keep = kept(d["votes"])
    ims, votes = d["images"][keep], d["votes"][keep]
    if args.limit:
        ims, votes = ims[: args.limit], votes[: args.limit]
    fa, fx = FaceAnalyzer().load(), FaceExpressionModel().load()
    n = len(ims)
    face = np.zeros((n, 55), np.float32)
    emb = np.zeros((n, 128 + N_CLASSES), np.float32)
    found = np.zeros(n, bool)
    t_lm = t_cnn = 0.0
    for i, im in enumerate(ims):
        t = time.perf_counter()
        det, rgb = fa.still_detection(im)
        t_lm += time.perf_counter() - t
        if det.base is None:
            continue
        t = time.perf_counter()
        emb[i] = fx.features(rgb, det.landmarks)
        t_cnn += time.perf_counter() - t
        face[i], found[i] = det.base, True
    pred = emb[:, 128:].argmax(1)
    res = {"n_test": n, "face_found": round(float(found.mean()), 4), "cnn": accuracy(pred, votes, found),
           "ms_per_face_landmarker": round(1000 * t_lm / n, 2), "ms_per_face_cnn": round(1000 * t_cnn / found.sum(), 2)}

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    tr = np.load(args.cache / "train.npz")
    tk = kept(tr["votes"]) & tr["found"]
    ytr = tr["votes"][tk][:, :N_CLASSES].argmax(1)
    o = (CACHE_SIDE - CROP_SIDE) // 2
    crops = tr["crops"][tk][:, o : o + CROP_SIDE, o : o + CROP_SIDE]
    parts = [fx.forward(crops[i : i + 512]) for i in range(0, len(crops), 512)]  # all at once needs > 20 GB
    e_tr, p_tr = (np.concatenate(a) for a in zip(*parts))
    for name, xtr, xte in (
        ("lr_blendshapes_pose (current visual features)", tr["face"][tk], face),
        ("lr_blendshapes_pose_cnn (new visual vector)", np.concatenate([tr["face"][tk], e_tr, p_tr], 1),
         np.concatenate([face, emb], 1)),
    ):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(xtr, ytr)
        res[name] = accuracy(clf.predict(xte), votes, found)
    print(json.dumps(res, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
