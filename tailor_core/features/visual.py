"""Face features with MediaPipe Tasks FaceLandmarker (offline; the model ships in ``assets/``).

Per frame, for the LARGEST detected face (``MAX_FACES`` are searched so a bystander never hides the main face):

* ``[0:52]``    the 52 ARKit-style blendshape scores in [0, 1] (``_neutral``, browDownLeft, ...,
  noseSneerRight), in MediaPipe's fixed order;
* ``[52:55]``   head pose (yaw, pitch, roll) in radians from the facial transformation matrix;
* ``[55:191]``  what the FER+ expression network (``face_expression.py``) reads from the aligned face crop cut
  with this face's landmarks: a 128-d embedding, then the 8 FER+ class probabilities.

``VISUAL_DIM = 191``. Frames without a face give ``None`` (masked upstream), never a zero "neutral" face.
Sequences use VIDEO running mode (tracking, monotonically increasing timestamps); stills use IMAGE mode with small
crops (e.g. FER2013's 48x48 grey faces) upscaled and bordered first: FaceLandmarker misses most tight crops as
they are (docs/encoders.md gives what each step finds).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import weakref
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..offline import sealed_call
from ..resources import ResourceError, check_sha256, locate
from .face_expression import EXPR_DIM, FaceExpressionModel
from .lifetime import Closeable

MODEL_FILENAME: str = "face_landmarker.task"
MODEL_SHA256: str = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_ENV: str = "TAILOR_FACE_MODEL"  # optional override of the model path
N_BLENDSHAPES: int = 52
N_LANDMARKS: int = 478  # FaceMesh points
BASE_DIM: int = N_BLENDSHAPES + 3  # blendshapes + yaw, pitch, roll
VISUAL_DIM: int = BASE_DIM + EXPR_DIM  # + the expression network's embedding and class probabilities
MAX_FACES: int = 3  # faces searched per frame; the largest one is kept
VIDEO_FPS: float = 10.0  # video frames analysed per second (faces change slower than this)
MAX_FRAME_SIDE: int = 960  # frames are downscaled so their longer side is at most this (4K -> 960x540)
SMALL_IMAGE_SIDE: int = 256  # stills smaller than this (longer side) are upscaled to it ...
BORDER_FRACTION: float = 0.25  # ... and given a black border of 25% on each side
# Further tries for a small still where the two above find no face: (border fraction, border grey level,
# equalize the histogram first). Each finds faces the others miss; each costs one more detection, and only when no
# face was found yet.
SMALL_RETRIES: tuple[tuple[float, int, bool], ...] = ((0.1, 128, False), (0.5, 128, False), (0.1, 128, True))
MIN_DETECTION_CONFIDENCE: float = 0.5
MIN_PRESENCE_CONFIDENCE: float = 0.5

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    """``$TAILOR_FACE_MODEL`` or the shipped ``assets/face_landmarker.task``."""
    return locate(MODEL_ENV, MODEL_FILENAME)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any HxW gray, HxWx1, HxWx3 RGB or HxWx4 RGBA array (uint8 or float in [0,1]) -> contiguous HxWx3
    uint8."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        if a.size and a.max() <= 1.0:
            a = a * 255.0
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a, a, a], axis=-1)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        from .errors import FeatureError

        raise FeatureError(f"expected an image array HxW or HxWx3, got shape {np.asarray(image).shape}")
    return np.ascontiguousarray(a)


def downscale(rgb: np.ndarray, max_side: int = MAX_FRAME_SIDE) -> np.ndarray:
    """Shrink (area interpolation) so that the longer side is at most ``max_side``; never enlarges."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    import cv2

    s = max_side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def prepare_small_size(h: int, w: int) -> tuple[int, int]:
    """(height, width) a ``h`` x ``w`` image has after ``prepare_small``'s upscaling (before the border)."""
    if max(h, w) >= SMALL_IMAGE_SIDE:
        return h, w
    s = SMALL_IMAGE_SIDE / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def prepare_small(rgb: np.ndarray, border: float = BORDER_FRACTION, fill: int = 0,
                  equalize: bool = False) -> np.ndarray:
    """Upscale a small crop to ``SMALL_IMAGE_SIDE`` and add a border of ``border`` x its longer side in grey
    level ``fill`` (FaceLandmarker misses tight crops); ``equalize`` stretches the contrast of the grey image
    first (dim or washed-out stills)."""
    import cv2

    h, w = prepare_small_size(*rgb.shape[:2])
    if (h, w) != rgb.shape[:2]:
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC)
    if equalize:
        rgb = np.repeat(cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))[..., None], 3, axis=-1)
    b = round(border * max(h, w))
    return cv2.copyMakeBorder(rgb, b, b, b, b, cv2.BORDER_CONSTANT, value=(fill, fill, fill))


def euler_from_matrix(m: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in radians from a 4x4 (or 3x3) facial transformation matrix (R = Rz·Ry·Rx)."""
    r = np.asarray(m, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(r, axis=0)
    r = r / np.where(norms > 1e-9, norms, 1.0)
    sy = math.hypot(r[0, 0], r[1, 0])
    pitch = math.atan2(r[2, 1], r[2, 2])
    yaw = math.atan2(-r[2, 0], sy)
    roll = math.atan2(r[1, 0], r[0, 0])
    return yaw, pitch, roll


class Detection(NamedTuple):
    """The largest face of one FaceLandmarker result (``base``/``landmarks`` are ``None`` when none was found)."""

    base: np.ndarray | None  # [BASE_DIM] blendshapes + head pose
    landmarks: np.ndarray | None  # [N_LANDMARKS, 2] (x, y) in pixels of the image that was searched
    n_faces: int
    area: float  # its landmark bounding box, px²


NO_FACE = Detection(None, None, 0, 0.0)


def largest_face(result, width: int, height: int) -> Detection:
    """The largest face of a FaceLandmarkerResult on a ``width`` x ``height`` image."""
    faces = result.face_landmarks or []
    if not faces or not result.face_blendshapes:
        return NO_FACE
    best, best_area, best_xy = 0, -1.0, None
    for i, lms in enumerate(faces):
        xy = np.array([(p.x * width, p.y * height) for p in lms], np.float32)
        area = float(np.ptp(xy[:, 0]) * np.ptp(xy[:, 1]))
        if area > best_area:
            best, best_area, best_xy = i, area, xy
    if best >= len(result.face_blendshapes):
        return Detection(None, None, len(faces), 0.0)
    vec = np.zeros(BASE_DIM, np.float32)
    shapes = result.face_blendshapes[best]
    vec[: min(N_BLENDSHAPES, len(shapes))] = [c.score for c in shapes[:N_BLENDSHAPES]]
    mats = result.facial_transformation_matrixes or []
    if best < len(mats):
        vec[N_BLENDSHAPES:] = euler_from_matrix(np.asarray(mats[best]))
    return Detection(vec, best_xy, len(faces), best_area)


def _close_landmarker(landmarker) -> None:
    try:
        landmarker.close()
    except Exception as e:  # noqa: BLE001 - closing must never raise
        log.debug("closing a FaceLandmarker failed: %s", e)


# What is still open at interpreter exit is closed by one exit hook, registered here, when this module is imported
# and MediaPipe is not yet: exit hooks run last-registered first, so it runs after MediaPipe's own, once MediaPipe
# skips its native calls. Closing then only marks the landmarkers closed, and none is left for the garbage
# collector at shutdown (where MediaPipe's own finaliser would fail). Analyzers are held weakly: each still owns,
# and closes, its landmarkers.
_OPEN_AT_EXIT: weakref.WeakSet[FaceAnalyzer] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    for analyzer in list(_OPEN_AT_EXIT):
        analyzer.close()


class FaceAnalyzer(Closeable):
    """Loads the FaceLandmarker model once; makes IMAGE-mode detections (locked) and VIDEO-mode trackers.

    ``expression`` (default: the shipped FER+ network) turns each detected face's aligned crop into the last
    ``EXPR_DIM`` values of the face vector; stills, clips and live frames all go through :meth:`vector`.

    It owns every landmarker it makes: :meth:`close` (or leaving a ``with`` block) closes its IMAGE-mode one and
    every tracker not closed yet; what is still open at interpreter exit is closed then (``_close_at_exit``).
    Close it rather than drop it: MediaPipe's own finaliser closes a collected landmarker by handing a call to
    its worker thread and waiting, inside whatever collection runs it.
    """

    def __init__(self, model_path: str | Path | None = None, expression: FaceExpressionModel | None = None) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.expression = expression or FaceExpressionModel()
        self._buffer: bytes | None = None
        self._image_landmarker = None
        self._trackers: set[VideoFaceTracker] = set()  # open ones, kept alive until closed
        self._lock = threading.Lock()
        _OPEN_AT_EXIT.add(self)

    def _model_bytes(self) -> bytes:
        if self._buffer is None:

            if not os.environ.get(MODEL_ENV):  # an explicit override is the user's own model
                check_sha256(self.model_path, MODEL_SHA256, "face landmarker model")
            elif not self.model_path.is_file():
                raise ResourceError(f"face model not found at {self.model_path} (${MODEL_ENV})")
            self._buffer = self.model_path.read_bytes()
        return self._buffer

    def _create(self, video: bool):
        from mediapipe.tasks.python import BaseOptions, vision

        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self._model_bytes()),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_faces=MAX_FACES,
            min_face_detection_confidence=MIN_DETECTION_CONFIDENCE,
            min_face_presence_confidence=MIN_PRESENCE_CONFIDENCE,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        # on a sealed thread: MediaPipe's metrics uploader, started here, can reach no network (offline.py)
        return sealed_call(vision.FaceLandmarker.create_from_options, opts)

    def load(self) -> FaceAnalyzer:
        """Load the IMAGE-mode landmarker and the expression network now (otherwise on first use)."""
        with self._lock:
            if self._image_landmarker is None:
                self._image_landmarker = self._create(video=False)
        self.expression.load()
        return self

    def vector(self, det: Detection, rgb: np.ndarray) -> np.ndarray | None:
        """[VISUAL_DIM] face vector: ``det.base`` ++ the expression features of the crop of ``rgb`` (the image
        whose pixels ``det.landmarks`` refer to); ``None`` when no face was found."""
        if det.base is None or det.landmarks is None:
            return None
        return np.concatenate([det.base, self.expression.features(rgb, det.landmarks)])

    def close(self) -> None:
        """Close the IMAGE-mode landmarker and every tracker still open (a later call loads them again)."""
        with self._lock:
            lm, self._image_landmarker = self._image_landmarker, None
            trackers, self._trackers = list(self._trackers), set()
        if lm is not None:
            _close_landmarker(lm)
        for tracker in trackers:
            tracker.close()

    def detect_image(self, rgb: np.ndarray) -> Detection:
        """Largest face of one still RGB uint8 frame (already downscaled)."""
        import mediapipe as mp

        self.load()
        img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        with self._lock:
            if self._image_landmarker is None:  # closed since load(): open it again, as close() promises
                self._image_landmarker = self._create(video=False)
            res = self._image_landmarker.detect(img)
        return largest_face(res, rgb.shape[1], rgb.shape[0])

    def detect_prepared(self, rgb: np.ndarray, variant: tuple[float, int, bool] | None) -> Detection:
        """Largest face of ``rgb`` searched in ``prepare_small(rgb, *variant)`` (``None``: ``rgb`` as it is), with
        the landmarks mapped back to ``rgb``'s pixels."""
        if variant is None:
            return self.detect_image(rgb)
        det = self.detect_image(prepare_small(rgb, *variant))
        if det.base is not None:  # prepare_small upscaled to (hs, ws) if small, then added b on each side
            h, w = rgb.shape[:2]
            hs, ws = prepare_small_size(h, w)
            b = round(variant[0] * max(hs, ws))
            det = det._replace(landmarks=(det.landmarks - b) * np.array([w / ws, h / hs], np.float32))
        return det

    def still_detection(self, image: np.ndarray) -> tuple[Detection, np.ndarray]:
        """(largest face, ``rgb``) of a still of any size/format; ``rgb`` is the downscaled HxWx3 uint8 image the
        detection's landmarks refer to (whatever variant was searched).

        Small or tight crops are upscaled and bordered (``prepare_small``; a second try on the other variant, and
        for a small still the ``SMALL_RETRIES`` variants).
        In a large image where no face is found whole (the detector sees the image at 128 px, so a face smaller
        than ~1/4 of the image is missed, e.g. a group photo), overlapping tiles of half the size are searched
        and the largest face found is kept (``n_faces`` is then at least 2: tiles overlap, so not a count)."""
        rgb = downscale(to_rgb_uint8(image))
        h, w = rgb.shape[:2]
        small = max(h, w) < SMALL_IMAGE_SIDE
        tries: list[tuple[float, int, bool] | None] = [(BORDER_FRACTION, 0, False), None]
        if small:
            tries += list(SMALL_RETRIES)
        else:
            tries.reverse()
        for t in tries:
            det = self.detect_prepared(rgb, t)
            if det.base is not None:
                return det, rgb
        n = det.n_faces
        if max(h, w) >= 2 * SMALL_IMAGE_SIDE:
            best = NO_FACE
            for y in (0, h // 4, h // 2):
                for x in (0, w // 4, w // 2):
                    d = self.detect_image(rgb[y: y + h // 2, x: x + w // 2])
                    n = max(n, d.n_faces)
                    if d.base is not None and d.area > best.area:
                        best = d._replace(landmarks=d.landmarks + np.array([x, y], np.float32))
            if best.base is not None:
                return best._replace(n_faces=max(n, 2)), rgb
        return NO_FACE._replace(n_faces=n), rgb

    def still_faces(self, image: np.ndarray) -> tuple[np.ndarray | None, int]:
        """(face vector [VISUAL_DIM] of the largest face or ``None``, faces seen) in a still of any size/format."""
        det, rgb = self.still_detection(image)
        return self.vector(det, rgb), det.n_faces

    def still(self, image: np.ndarray) -> np.ndarray | None:
        """Face vector of the largest face in a still of any size/format, or ``None``."""
        return self.still_faces(image)[0]

    def tracker(self) -> VideoFaceTracker:
        """A new VIDEO-mode tracker (one per clip or live stream; not shared between threads). Close it when done
        (``close()`` or a ``with`` block); :meth:`close` closes those left open."""
        tracker = VideoFaceTracker(self._create(video=True), self)
        with self._lock:
            self._trackers.add(tracker)
        return tracker

    def _forget(self, tracker: VideoFaceTracker) -> None:
        with self._lock:
            self._trackers.discard(tracker)


class VideoFaceTracker(Closeable):
    """VIDEO-mode FaceLandmarker for one frame sequence; timestamps must increase. A context manager."""

    def __init__(self, landmarker, analyzer: FaceAnalyzer) -> None:
        self._lm = landmarker
        self._analyzer = analyzer
        self._last_ms = -1
        self.most_faces = 0  # the most faces seen in one frame so far

    def __call__(self, rgb: np.ndarray, t: float) -> np.ndarray | None:
        """Face vector of frame ``rgb`` (HxWx3 uint8, already downscaled) at time ``t`` seconds, or
        ``None``."""
        return self._analyzer.vector(self.detect(rgb, t), rgb)

    def detect(self, rgb: np.ndarray, t: float) -> Detection:
        """The largest face of frame ``rgb`` at time ``t`` seconds (landmarks only: no expression network)."""
        import mediapipe as mp

        lm = self._lm
        if lm is None:
            from .errors import FeatureError

            raise FeatureError("the face tracker was closed (its FaceAnalyzer or stream was closed)")
        ms = max(round(t * 1000), self._last_ms + 1)
        self._last_ms = ms
        img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        det = largest_face(lm.detect_for_video(img, ms), rgb.shape[1], rgb.shape[0])
        self.most_faces = max(self.most_faces, det.n_faces)
        return det

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (directly, or through its :class:`FaceAnalyzer`'s)."""
        return self._lm is None

    def close(self) -> None:
        """Close the landmarker now (idempotent)."""
        lm, self._lm = self._lm, None
        if lm is not None:
            self._analyzer._forget(self)
            _close_landmarker(lm)

    def close_soon(self) -> None:
        """Close the landmarker from a new thread: never blocks, so a finaliser may call it."""
        if self._lm is not None:
            threading.Thread(target=self.close, name="tailor-face-closer", daemon=True).start()


class FrameSampler:
    """Keeps frames at most every ``1 / fps`` seconds (the same rule for files and live streams)."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self.next_t = -math.inf

    def take(self, t: float) -> bool:
        if t + 1e-6 < self.next_t:
            return False
        # advance on the fixed grid so that 30 fps input sampled at 10 fps gives exactly every 3rd frame
        if self.next_t == -math.inf:
            self.next_t = t
        self.next_t = max(self.next_t + self.interval, t + 0.5 * self.interval)
        return True
