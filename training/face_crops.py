"""Cache FER+ aligned face crops through the app's own pipeline (FaceLandmarker + ``align_face``).

For every image of ``{train,valid,test}.npz``: upscale + border (``visual.prepare_small``), run the IMAGE-mode
FaceLandmarker (a second try on the raw image, as ``FaceAnalyzer.still`` does), map the landmarks back to the
48x48 image and cut a ``CACHE_SIDE`` aligned crop (same scale/centre as the 48 crop the app feeds the CNN).
Writes ``OUT/{split}.npz``: ``crops`` uint8 [N, 60, 60], ``found`` bool [N], ``face`` float32 [N, 55]
(blendshapes + pose, the current visual features), ``landmarks`` float16 [N, 478, 2], ``votes`` uint8 [N, 10].

    OMP_NUM_THREADS=1 python -m training.face_crops --data ../shared/data/ferplus \
        --out /work/enc-cache/fer_crops      # ~16 ms an image on one core, ~10 min
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tailor_core.features import visual as V
from tailor_core.features.face_expression import CACHE_SIDE, align_face


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with FER+ train/valid/test.npz")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=0, help="first N images per split (0 = all)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    fa = V.FaceAnalyzer().load()
    for split in ("test", "valid", "train"):
        d = np.load(args.data / f"{split}.npz")
        ims, votes = d["images"], d["votes"]
        if args.limit:
            ims, votes = ims[: args.limit], votes[: args.limit]
        n = len(ims)
        crops = np.zeros((n, CACHE_SIDE, CACHE_SIDE), np.uint8)
        found = np.zeros(n, bool)
        face = np.zeros((n, V.BASE_DIM), np.float32)
        lms = np.zeros((n, V.N_LANDMARKS, 2), np.float16)
        t0 = time.time()
        for i, im in enumerate(ims):
            det, rgb = fa.still_detection(im)  # the app's own search (rgb: the 48x48 image as RGB)
            if det.base is not None:
                found[i], face[i], lms[i] = True, det.base, det.landmarks
                crops[i] = align_face(rgb, det.landmarks, CACHE_SIDE)
            if i % 2000 == 0:
                print(f"{split} {i}/{n} found {found[: i + 1].mean():.3f} {time.time() - t0:.0f}s", flush=True)
        np.savez(args.out / f"{split}.npz", crops=crops, found=found, face=face, landmarks=lms, votes=votes)
        print(f"{split}: {n} images, face found {found.mean():.4f}, {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
