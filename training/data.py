"""Datasets: the TAILOR/MOSEI aligned file, the MulT unaligned pickle, and the product's ``.npz`` files.

Every loader returns, per split, a ``Split`` of float tensors text/audio/visual [N,L,D], bool masks [N,L]
and multi-hot labels [N,6]. Untrusted files are never unpickled freely: ``torch.load`` runs with
``weights_only=True`` allowing numpy's array types alone, and the MulT pickle goes through an
allow-list unpickler.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tailor_core import scoring
from tailor_core.config import LABELS, MODALITIES

SPLITS = ("train", "valid", "test")
# In the TAILOR aligned file, each ``tgt`` is [start, ids..., end] and inner ids 4..9 are these labels.
LABEL_ID_OFFSET = 4


class DataError(ValueError):
    """A data file that is missing, corrupt or not in the expected format (one clear message)."""


@dataclass
class Split:
    text: torch.Tensor          # [N,Lt,Dt]
    audio: torch.Tensor         # [N,La,Da]
    visual: torch.Tensor        # [N,Lv,Dv]
    text_mask: torch.Tensor     # [N,Lt] bool
    audio_mask: torch.Tensor    # [N,La] bool
    visual_mask: torch.Tensor   # [N,Lv] bool
    labels: torch.Tensor        # [N,6] float multi-hot

    def __len__(self) -> int:
        return len(self.labels)


class TailorDataset(Dataset):
    """Examples of a split; with ``window_crop`` p > 0, each is replaced with probability p by one of the windows
    the app's summary scores on it (:func:`app_window`), drawn with torch's global generator (so ``--resume``
    replays the same draws)."""

    def __init__(self, split: Split, window_crop: float = 0.0):
        self.split = split
        self.window_crop = window_crop

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = self.split
        item = {"text": s.text[i], "audio": s.audio[i], "visual": s.visual[i], "text_mask": s.text_mask[i],
                "audio_mask": s.audio_mask[i], "visual_mask": s.visual_mask[i], "labels": s.labels[i]}
        if self.window_crop and float(torch.rand(())) < self.window_crop:
            item = app_window(item)
        return item


def content_windows(valid: np.ndarray, size: int = scoring.TIMELINE_STEPS,
                    hop: int = scoring.TIMELINE_HOP) -> list[scoring.Span]:
    """The windows the app scores on an example, as ``[a, b)`` steps of the example: ``valid`` [L] bool (steps with
    any modality) is cut to its content (first to last valid step, as a clip of that length would be) and windowed
    by ``scoring.timeline_spans``; [] if no step is valid."""
    content = np.flatnonzero(valid)
    if not len(content):
        return []
    lo, hi = int(content[0]), int(content[-1]) + 1
    return [(lo + a, lo + b) for a, b in scoring.timeline_spans(valid[lo:hi], size, hop)]


def app_window(item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One aligned example (features [L,D], masks [L]) cut to a random one of the windows the app scores on it.

    The app cuts an input to its content, scores windows of it (``scoring.timeline_spans``: on anything shorter
    than 16 steps, windows of half its length) and summarises their scores; a model trained only on whole
    examples meets those half-length windows only at inference. The window is moved to step 0, as the app's own
    cut starts there, the steps after it masked; the labels are the example's, as the summary is scored."""
    spans = content_windows((item["text_mask"] | item["audio_mask"] | item["visual_mask"]).numpy())
    if not spans:
        return item
    a, b = spans[int(torch.randint(len(spans), ()))]
    out = dict(item)
    for m in MODALITIES:
        for key in (m, f"{m}_mask"):
            out[key] = torch.zeros_like(item[key])
            out[key][: b - a] = item[key][a:b]
    return out


def _numpy_safe_globals() -> list:
    """The classes numpy arrays need to be rebuilt by ``torch.load(weights_only=True)``; nothing else."""
    items = [np.ndarray, np.dtype]
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    items += [_reconstruct, scalar]
    items += [type(np.dtype(t)) for t in ("f4", "f8", "f2", "i8", "i4", "i2", "u1", "b1", "U1", "O")]
    return items


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler for MulT-style files that admits numpy arrays and plain containers, nothing executable."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict"),
               ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED or (module.startswith("numpy") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def _tensor(a, name: str, path: Path, ndim: int) -> torch.Tensor:
    try:
        t = torch.as_tensor(np.asarray(a, dtype=np.float32))
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: '{name}' is not a numeric array ({e})") from None
    if t.ndim != ndim:
        raise DataError(f"{path}: '{name}' should have {ndim} dimensions, has shape {tuple(t.shape)}")
    return torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)  # MOSEI audio contains -inf


def targets_to_multihot(targets, num_labels: int = len(LABELS)) -> torch.Tensor:
    """TAILOR ``tgt`` lists ([start, ids..., end], ids 4..9 = labels) → [N, num_labels] float."""
    out = torch.zeros(len(targets), num_labels)
    for i, tgt in enumerate(targets):
        for label_id in list(tgt)[1:-1]:
            j = int(label_id) - LABEL_ID_OFFSET
            if 0 <= j < num_labels:
                out[i, j] = 1.0
    return out


def _load_torch(path: Path) -> dict:
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"no such data file: {path}") from None
    except Exception as e:  # corrupt, truncated, or holding objects other than arrays
        raise DataError(f"{path} is not a readable TAILOR data file (torch.load with weights_only: "
                        f"{type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict with splits {SPLITS}, got {type(obj).__name__}")
    return obj


def _check_splits(obj: dict, path: Path, keys: tuple[str, ...]) -> None:
    for split in SPLITS:
        if split not in obj or not isinstance(obj[split], dict):
            raise DataError(f"{path}: missing split '{split}' (found {sorted(map(str, obj))})")
    for split in SPLITS:
        missing = [k for k in keys if k not in obj[split]]
        if missing:
            raise DataError(f"{path}: split '{split}' lacks {missing} (found {sorted(obj[split])})")


def _modalities(d: dict, keys: tuple[str, str, str], split: str, path: Path) -> tuple[torch.Tensor, ...]:
    """The text, audio and visual arrays [N, L, D] of one split, stored under ``keys``, as float tensors."""
    return tuple(_tensor(d[k], f"{split}/{k}", path, 3) for k in keys)


def _all_steps_valid(text: torch.Tensor, audio: torch.Tensor, visual: torch.Tensor, labels: torch.Tensor) -> Split:
    """A MOSEI split: the authors' code attends over every step (padding included), so every mask is all ones."""
    return Split(text, audio, visual, *(torch.ones(x.shape[:2], dtype=torch.bool) for x in (text, audio, visual)),
                 labels)


def load_aligned(path: str | Path) -> dict[str, Split]:
    """The TAILOR aligned MOSEI file: src-text [N,60,300], src-audio [N,60,74], src-visual [N,60,35], tgt."""
    path = Path(path)
    obj = _load_torch(path)
    _check_splits(obj, path, ("src-text", "src-audio", "src-visual", "tgt"))
    splits = {}
    for name in SPLITS:
        text, audio, visual = _modalities(obj[name], ("src-text", "src-audio", "src-visual"), name, path)
        labels = targets_to_multihot(obj[name]["tgt"])
        n = {len(text), len(audio), len(visual), len(labels)}
        if len(n) != 1:
            raise DataError(f"{path}: split '{name}' has different sample counts per field: {sorted(n)}")
        splits[name] = _all_steps_valid(text, audio, visual, labels)
    return splits


def load_unaligned(path: str | Path, aligned: dict[str, Split]) -> dict[str, Split]:
    """MulT's unaligned pickle (text [N,50,300], audio [N,500,74], vision [N,500,35]); labels come from the
    aligned file, matched by position."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(io.BytesIO(f.read())).load()
    except FileNotFoundError:
        raise DataError(f"no such data file: {path}") from None
    except Exception as e:
        raise DataError(f"{path} is not a readable MulT pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict with splits {SPLITS}")
    _check_splits(obj, path, ("text", "audio", "vision"))
    splits = {}
    for name in SPLITS:
        text, audio, visual = _modalities(obj[name], ("text", "audio", "vision"), name, path)
        labels = aligned[name].labels
        if not len(text) == len(audio) == len(visual) == len(labels):
            raise DataError(f"{path}: split '{name}' has {len(text)} samples but the aligned file has "
                            f"{len(labels)}: labels are matched by position, so the counts must agree")
        splits[name] = _all_steps_valid(text, audio, visual, labels)
    return splits


def load_npz(path: str | Path, splits_wanted: tuple[str, ...] = SPLITS) -> dict[str, Split]:
    """The product's format (``python -m training.prepare_demo``): for each split s, arrays ``s/text``,
    ``s/audio``, ``s/visual``, ``s/text_mask``, ``s/audio_mask``, ``s/visual_mask``, ``s/labels``."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except FileNotFoundError:
        raise DataError(f"no such data file: {path}") from None
    except Exception as e:
        raise DataError(f"{path} is not a readable .npz file ({type(e).__name__}: {e})") from None
    fields = ("text", "audio", "visual", "text_mask", "audio_mask", "visual_mask", "labels")
    splits = {}
    for name in splits_wanted:
        missing = [f"{name}/{f}" for f in fields if f"{name}/{f}" not in keys]
        if missing:
            raise DataError(f"{path}: missing arrays {missing}")
        a = {f: z[f"{name}/{f}"] for f in fields}
        splits[name] = Split(
            _tensor(a["text"], "text", path, 3), _tensor(a["audio"], "audio", path, 3),
            _tensor(a["visual"], "visual", path, 3), *(torch.as_tensor(a[f"{m}_mask"]).bool()
                                                        for m in ("text", "audio", "visual")),
            torch.as_tensor(a["labels"]).float())
    return splits


def load_data(path: str | Path, unaligned: str | Path | None = None) -> dict[str, Split]:
    """Any supported file: ``.npz`` (product), else the TAILOR aligned ``torch.save`` file (+ MulT pickle)."""
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path)
    aligned = load_aligned(path)
    return load_unaligned(unaligned, aligned) if unaligned else aligned


def feature_stats(split: Split) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Mean and std [D] of each modality over its valid steps (the model stores them to normalise)."""
    stats = {}
    for m in ("text", "audio", "visual"):
        x, mask = getattr(split, m), getattr(split, f"{m}_mask")
        valid = x[mask] if mask.any() else x.reshape(-1, x.shape[-1])
        stats[m] = (valid.mean(0), valid.std(0).clamp_min(1e-6))
    return stats
