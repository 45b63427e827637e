"""Face-expression network trained here on FER+ (see ``training/train_face.py``).

Pipeline, identical for training and serving:

1. MediaPipe FaceLandmarker (``visual.py``) finds the 478 landmarks of the largest face
   (``FaceAnalyzer.still_detection`` for stills, the VIDEO tracker for frames);
2. :func:`align_face` cuts an aligned grey crop from the frame: eyes levelled, scale set by the mean of the
   inter-ocular and eye-to-mouth distances (robust to yaw and pitch), eye midpoint at a fixed place; the crop
   is ``CROP_SIDE`` x ``CROP_SIDE`` (48, FER's own resolution) and framed like a FER2013 image;
3. :class:`ExpressionNet` (a small VGG-style CNN) gives an ``EMBED_DIM`` embedding and the probabilities of
   the ``N_CLASSES`` FER+ expression classes.

The weights ship in ``assets/face_expression.safetensors`` (fp16) with ``assets/face_expression.json``; they
are loaded offline and their SHA-256 is checked (``resources.check_sha256``; ``TAILOR_FACE_EXPR_MODEL``
overrides the path and skips the check, as for the landmarker). A missing or damaged file raises
``resources.ResourceError``; a file that is not a matching safetensors file raises ``FeatureError``.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from ..resources import locate
from .weights import load_weights

WEIGHTS_FILENAME: str = "face_expression.safetensors"
CONFIG_FILENAME: str = "face_expression.json"
WEIGHTS_SHA256: str = "6a40b192f2078397dbeb628cfc3de7fe7ee5663347f8097e8adb1532f44593a9"
MODEL_ENV: str = "TAILOR_FACE_EXPR_MODEL"  # optional override of the weights path (config beside it)
CROP_SIDE: int = 48  # network input (FER's resolution)
CACHE_SIDE: int = 60  # training caches a wider crop (same scale/centre) so random 48-crops shift the face
FACE_SCALE: float = 0.375  # mean(inter-ocular, eye-mouth) distance as a fraction of CROP_SIDE (FER median)
EYE_Y: float = 0.40  # eye midpoint height as a fraction of CROP_SIDE (FER median), centred horizontally
# FaceMesh landmark indices: eye corners (image-left eye, image-right eye) and mouth corners
LEFT_EYE: tuple[int, int] = (33, 133)
RIGHT_EYE: tuple[int, int] = (362, 263)
MOUTH: tuple[int, int] = (61, 291)
CLASSES: tuple[str, ...] = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
N_CLASSES: int = len(CLASSES)
EMBED_DIM: int = 128
# FER+ class index of each TAILOR label (happy, sad, anger, surprise, disgust, fear)
TAILOR_FROM_FER: tuple[int, ...] = (1, 3, 4, 2, 5, 6)
EXPR_DIM: int = EMBED_DIM + N_CLASSES  # what :meth:`FaceExpressionModel.features` returns per face
# Average the reading of the crop and of its mirror image (one more CNN pass; faces are near-symmetric in
# expression and training saw both through flip augmentation): docs/encoders.md gives what it buys and costs.
MIRROR_AVERAGE: bool = True


def default_weights_path() -> Path:
    """``$TAILOR_FACE_EXPR_MODEL`` or the shipped ``assets/face_expression.safetensors``."""
    return locate(MODEL_ENV, WEIGHTS_FILENAME)


def alignment_matrix(landmarks_px: np.ndarray, side: int = CROP_SIDE, out_side: int | None = None) -> np.ndarray:
    """2x3 affine matrix mapping image pixels to the aligned crop.

    ``landmarks_px``: [478, 2] (x, y) FaceMesh landmarks in pixels of the image to crop from. ``side`` sets the
    scale (the canonical crop size); ``out_side`` (>= side) widens the output around the same centre.
    """
    p = np.asarray(landmarks_px, dtype=np.float64)[:, :2]
    le, re, mo = p[list(LEFT_EYE)].mean(0), p[list(RIGHT_EYE)].mean(0), p[list(MOUTH)].mean(0)
    eye_mid = (le + re) / 2
    d = (np.linalg.norm(re - le) + np.linalg.norm(mo - eye_mid)) / 2
    angle = math.atan2(re[1] - le[1], re[0] - le[0])
    s = FACE_SCALE * side / max(d, 1e-6)
    c, si = math.cos(-angle) * s, math.sin(-angle) * s
    out = out_side or side
    # rotate by -angle and scale about the eye midpoint, then put it at (out/2, EYE_Y*side + (out-side)/2)
    target = np.array([out / 2, EYE_Y * side + (out - side) / 2])
    m = np.array([[c, -si, 0.0], [si, c, 0.0]])
    m[:, 2] = target - m[:, :2] @ eye_mid
    return m


def align_face(image: np.ndarray, landmarks_px: np.ndarray, out_side: int = CROP_SIDE) -> np.ndarray:
    """Aligned grey face crop [out_side, out_side] uint8 from ``image`` (HxW grey or HxWx3 RGB uint8).

    Large faces are warped at up to 4x the output size and then area-averaged down, so a 400-px face and a
    48-px FER face give the same kind of crop (no aliasing). Pixels outside the image replicate its edge.
    """
    import cv2

    img = np.asarray(image)
    grey = img if img.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)
    m = alignment_matrix(landmarks_px, CROP_SIDE, out_side)
    scale = math.hypot(m[0, 0], m[0, 1])  # crop pixels per image pixel
    k = int(min(4, max(1, round(1.0 / max(scale, 1e-6)))))
    big = cv2.warpAffine(
        grey, m * np.array([[k], [k]]), (out_side * k, out_side * k), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if k > 1:
        big = cv2.resize(big, (out_side, out_side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(big, dtype=np.uint8)


def build_net(width: int = 32, embed_dim: int = EMBED_DIM, n_classes: int = N_CLASSES, dropout: float = 0.3):
    """The expression CNN (torch ``nn.Module``): [B, 1, 48, 48] float in [0,1] -> (embedding [B, embed_dim],
    logits [B, n_classes]).

    Four VGG-style stages (two 3x3 conv + BN + ReLU each, 2x2 max-pool after each) of width w, 2w, 4w, 8w,
    global average pool, a linear embedding with ReLU, a linear classifier.
    """
    import torch
    from torch import nn

    def stage(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    class ExpressionNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.features = nn.Sequential(stage(1, w), stage(w, 2 * w), stage(2 * w, 4 * w), stage(4 * w, 8 * w))
            self.embed = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * w * 9, embed_dim),
                                       nn.ReLU(inplace=True))
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, n_classes))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # x: [B, 1, 48, 48] -> features [B, 8w, 3, 3] (48 -> 24 -> 12 -> 6 -> 3)
            e = self.embed(self.features((x - 0.5) / 0.25))
            return e, self.head(e)

    return ExpressionNet()


class FaceExpressionModel:
    """Lazily loaded expression CNN (CPU, fp32 from fp16 weights); :meth:`features` is thread-safe."""

    def __init__(self, weights_path: str | Path | None = None, expected_sha256: str | None = None) -> None:
        self.weights_path = Path(weights_path) if weights_path else default_weights_path()
        self.expected_sha256 = WEIGHTS_SHA256 if expected_sha256 is None else expected_sha256
        self._net = None
        self._lock = threading.Lock()

    def load(self) -> FaceExpressionModel:
        """Read config + weights (hash-checked); raises ``FeatureError`` on a missing or wrong file."""
        with self._lock:
            if self._net is None:
                self._net = self._build()
        return self

    def _build(self):
        from .errors import FeatureError

        path = self.weights_path
        state, cfg = load_weights(path, CONFIG_FILENAME, self.expected_sha256, MODEL_ENV, "face-expression weights",
                                  framework="torch")
        import torch

        net = build_net(width=int(cfg["width"]), embed_dim=int(cfg["embed_dim"]), n_classes=int(cfg["n_classes"]))
        try:
            missing, unexpected = net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        except RuntimeError as e:  # tensors of other shapes
            raise FeatureError(f"face-expression weights {path} could not be loaded: {e}") from e
        # only BatchNorm's integer step counters are not shipped
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise FeatureError(f"face-expression weights {path} do not match the network: missing "
                               f"{missing[:3]}, unexpected {unexpected[:3]}")
        net.eval()
        return net, torch

    def forward(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Aligned crops [N, 48, 48] uint8 -> (embeddings [N, EMBED_DIM], probabilities [N, N_CLASSES]) float32."""
        self.load()
        net, torch = self._net
        x = torch.from_numpy(np.asarray(crops, dtype=np.float32).reshape(-1, 1, CROP_SIDE, CROP_SIDE) / 255.0)
        views = [x, torch.flip(x, dims=[3])] if MIRROR_AVERAGE else [x]  # one batch: [V * N, 1, 48, 48]
        with self._lock, torch.inference_mode():
            e, logits = net(torch.cat(views))
            e = e.view(len(views), x.shape[0], -1).mean(0)
            p = torch.softmax(logits, dim=-1).view(len(views), x.shape[0], -1).mean(0)
        return e.numpy().astype(np.float32), p.numpy().astype(np.float32)

    def crop_features(self, crops: np.ndarray) -> np.ndarray:
        """[N, EXPR_DIM] float32 = embedding ++ class probabilities of aligned crops [N, 48, 48] (``align_face``)."""
        return np.concatenate(self.forward(crops), axis=1)

    def features(self, image: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
        """[EXPR_DIM] float32 = embedding ++ class probabilities of the face with these landmarks in ``image``."""
        return self.crop_features(align_face(image, landmarks_px)[None])[0]
