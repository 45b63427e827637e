"""Score an archive: one command, on this machine by default, on a Ray cluster when asked.

    python -m tailor_core.batch clips/ --out results/
    python -m tailor_core.batch "archive/**/*.mp4" --out results/ --timeline --attention --csv
    python -m tailor_core.batch manifest.csv --out results/          # a 'path' column, optional 'id' + metadata
    python -m tailor_core.batch manifest.parquet --out results/ --address auto   # an existing Ray cluster

INPUTS are folders (media files found recursively), globs, single files, or manifests (CSV or Parquet with a
path column; an ``id`` column and any other columns are carried into the results). Relative paths in a
manifest are read from the manifest's folder.

Engines. With the ``scale`` extra installed (``pip install .[scale]`` or ``-r requirements-scale.txt``), Ray Data
runs the job: started inside this process on this machine with the CPUs asked for (nothing to set up), or on a
cluster with ``--address auto`` / ``$RAY_ADDRESS``. Files are a dataset; decoding, features and the model run
in ``map_batches`` on a pool of actors that each load the model once (GPU actors where the cluster has GPUs).
Without Ray installed (or with ``--engine local``) the same files are scored in this process, one after the
other, with the same outputs.

Outputs in ``--out``: ``results.parquet`` (one row per file: scores, labels, modalities present, duration,
notes, errors; ``results.csv`` with ``--csv``), ``timeline.parquet`` (``--timeline``: one row per time window and
label) and ``attention.parquet`` (``--attention``: each label's attention share per part), ``manifest.json``
(checkpoint hash, thresholds, caps, versions, start/end, counts; every run's in ``runs/``). Results are written
in parts (``parts/``) as files finish, so an interrupted run loses nothing finished, and a rerun skips every file
already scored (same path, size and modification time). A file that cannot be read gives an error row with a
one-sentence message, never a failed job; ``--retry-errors`` scores such files again. The caps are the app's.
The last line is a summary (files, errors, minutes, files per minute); the exit status is 0 when the run
completes, error rows included, 130 when interrupted. Nothing is sent anywhere: Ray's usage statistics and
dashboard are off. See docs/scale.md for clusters, costs and the cluster configurations in deploy/.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import glob
import hashlib
import json
import logging
import os
import platform
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .config import LABELS, PC_PARTS
from .features.media import MEDIA_EXTENSIONS, kind_of
from .options import DEFAULT_LIMITS, Limits  # the input caps, shared with the app and the CLI

MODALITY_NAMES: tuple[str, ...] = ("text", "audio", "visual")
MANIFEST_SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")
PATH_COLUMNS: tuple[str, ...] = ("path", "file", "filepath", "filename")
#: error kinds: ``input`` (the file itself: kept on a rerun) and ``internal`` (a crash: scored again on a rerun)
INPUT_ERROR, INTERNAL_ERROR = "input", "internal"
_INTERNAL = ("_timeline", "_attention")  # JSON columns an actor returns; the writer turns them into tables

# Ray must never phone home (the project promises nothing leaves the machine): set before ray is imported.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"


# ---------------------------------------------------------------------------------------------- the inputs
def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return int(st.st_size), int(st.st_mtime_ns)
    except OSError:
        return -1, -1


def _item(path: str | Path, id_: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    full = os.path.abspath(os.fspath(path))
    size, mtime = _stat(full)
    return {"path": full, "id": str(id_), "size_bytes": size, "mtime_ns": mtime, "kind": kind_of(full) or "",
            "meta": dict(meta or {})}


def read_manifest(path: Path, path_column: str | None = None, id_column: str | None = None) -> list[dict[str, Any]]:
    """Items of a CSV or Parquet manifest: a path column (``path_column`` or one of ``PATH_COLUMNS``), an
    optional id column (``id_column`` or ``id``) and any metadata columns."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            records = list(csv.DictReader(f))
    else:
        import pyarrow.parquet as pq

        records = pq.read_table(path).to_pylist()
    columns = list(records[0]) if records else []
    pcol = path_column or next((c for c in columns if c.lower() in PATH_COLUMNS), None)
    if pcol is None or (records and pcol not in columns):
        raise ValueError(f"{path}: no path column (looked for {path_column or ', '.join(PATH_COLUMNS)}; "
                         f"columns are {', '.join(columns) or 'none'})")
    icol = id_column or ("id" if "id" in columns else None)
    if icol and records and icol not in columns:
        raise ValueError(f"{path}: no id column {icol!r} (columns are {', '.join(columns)})")
    out = []
    for rec in records:
        p = Path(str(rec[pcol]))
        p = p if p.is_absolute() else path.parent / p
        meta = {k: v for k, v in rec.items() if k not in (pcol, icol)}
        out.append(_item(p, rec[icol] if icol else rec[pcol], meta))
    return out


def discover(inputs: Iterable[str | Path], path_column: str | None = None,
             id_column: str | None = None) -> list[dict[str, Any]]:
    """The files to score, in input order, each once: ``{"path", "id", "size_bytes", "mtime_ns", "kind",
    "meta"}``. Folders give their media files (recursively, sorted; ids relative to the folder), globs their
    matches, manifests their rows, anything else itself (a missing file gets an error row later)."""
    items: list[dict[str, Any]] = []
    for arg in map(str, inputs):
        p = Path(arg)
        if p.is_dir():
            for f in sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_EXTENSIONS):
                items.append(_item(f, f.relative_to(p).as_posix()))
        elif p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
            items.extend(read_manifest(p, path_column, id_column))
        elif not p.exists() and any(c in arg for c in "*?["):
            for f in sorted(glob.glob(arg, recursive=True)):
                if os.path.isfile(f) and Path(f).suffix.lower() in MEDIA_EXTENSIONS:
                    items.append(_item(f, f))
        else:
            items.append(_item(p, arg))
    seen: set[str] = set()
    return [it for it in items if not (it["path"] in seen or seen.add(it["path"]))]


def file_key(row: dict[str, Any]) -> tuple[str, int, int]:
    """What identifies a file's version: path, size and modification time."""
    return str(row["path"]), int(row["size_bytes"]), int(row["mtime_ns"])


# ---------------------------------------------------------------------------------------------- scoring
def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def result_row(item: dict[str, Any], pred: dict[str, Any] | None, error: str = "", error_kind: str = "",
               seconds: float = 0.0, labels: Sequence[str] = LABELS, timeline: bool = False,
               attention: bool = False, cpu_seconds: float = 0.0) -> dict[str, Any]:
    """One file's result row (scalar columns only) from ``Prediction.to_dict()`` or an error."""
    nan = float("nan")
    present = (pred or {}).get("present", {})
    timings = (pred or {}).get("timings", {})
    row: dict[str, Any] = {
        "id": str(item["id"]), "path": str(item["path"]), "kind": str(item.get("kind") or ""),
        "status": "ok" if pred is not None else "error", "error": error, "error_kind": error_kind,
        "labels": " ".join(pred["labels"]) if pred else "",
    }
    for k in labels:
        v = pred["scores"].get(k) if pred else None
        row[f"score_{k}"] = float(v) if v is not None else nan
    for m in MODALITY_NAMES:
        row[f"present_{m}"] = bool(present.get(m, False))
    row["modalities"] = " ".join(m for m in MODALITY_NAMES if present.get(m))
    row["duration"] = float(pred["duration"]) if pred else nan
    row["truncated"] = bool(pred.get("truncated", False)) if pred else False
    row["notes"] = " ".join((pred or {}).get("notes", []))
    row["transcript"] = str((pred or {}).get("transcript", ""))
    row["readouts"] = json.dumps((pred or {}).get("readouts", {}), sort_keys=True) if pred else ""
    features = sum(float(timings.get(k) or 0.0) for k in ("video", "audio", "image", "text"))
    row["t_features"] = features if pred else nan
    row["t_model"] = float(timings.get("model") or 0.0) if pred else nan
    row["seconds"] = float(seconds)  # wall time of this file in its worker
    row["cpu_seconds"] = float(cpu_seconds)  # CPU time of the worker process (all its threads) on this file
    row["size_bytes"] = int(item["size_bytes"])
    row["mtime_ns"] = int(item["mtime_ns"])
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    row["scored_at"] = _now()
    row["result_id"] = uuid.uuid4().hex
    tl = [[p["start"], p["end"], k, p["scores"][k], p.get("raw", p["scores"])[k]]
          for p in (pred or {}).get("timeline", []) for k in labels] if timeline else []
    att = [[k, part, share.get(part)] for k, share in (pred or {}).get("modality_attention", {}).items()
           for part in PC_PARTS] if attention else []
    row["_timeline"] = json.dumps(tl)
    row["_attention"] = json.dumps(att)
    return row


class Scorer:
    """Scores files: a Ray Data actor (``map_batches(Scorer, ...)``, one per worker, the model loaded once in
    ``__init__``) or, called in-process, the fallback engine. Never raises on a file: errors become rows."""

    def __init__(self, checkpoint: str | None = None, device: str | None = None, limits: dict | None = None,
                 speech: bool = True, timeline: bool = False, attention: bool = False, offline: bool = True,
                 predictor: Any = None) -> None:
        from . import offline as _offline

        _offline.disable_telemetry()
        if offline and predictor is None and os.environ.get("TAILOR_BATCH_ACTOR") == "1":
            _offline.block_name_lookups()  # a Ray actor on any node: MediaPipe's native metrics go nowhere
        if predictor is None:
            from . import load_model

            if device is None:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            lim = Limits(**limits) if limits else DEFAULT_LIMITS
            predictor = load_model(checkpoint, device=device, transcribe=speech, limits=lim)
        self.predictor = predictor
        self.labels = tuple(predictor.labels)
        self.timeline, self.attention = timeline, attention

    def score(self, item: dict[str, Any]) -> dict[str, Any]:
        """One file's row; a file that cannot be scored gives an error row (``error_kind`` input or internal)."""
        from .features import FeatureError

        t0, c0 = time.perf_counter(), time.process_time()
        path, kind = str(item["path"]), str(item.get("kind") or "")
        pred, error, error_kind = None, "", ""
        try:
            if not kind:
                raise FeatureError(f"{Path(path).name}: unknown file type '{Path(path).suffix}'.")
            if not os.path.isfile(path):
                raise FeatureError(f"{Path(path).name}: no such file.")
            pred = self.predictor.predict(**{kind: path}).to_dict()
        except FeatureError as e:
            error, error_kind = str(e), INPUT_ERROR
        except Exception as e:  # noqa: BLE001 - one bad file must not stop a batch
            error, error_kind = f"{type(e).__name__}: {e}", INTERNAL_ERROR
        return result_row(item, pred, error, error_kind, time.perf_counter() - t0, self.labels, self.timeline,
                          self.attention, time.process_time() - c0)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Ray Data's ``map_batches`` entry point: a batch of items (numpy columns) -> a batch of rows."""
        import numpy as np

        n = len(batch["path"])
        rows = [self.score({k: batch[k][i] for k in ("path", "id", "size_bytes", "mtime_ns", "kind")})
                for i in range(n)]
        return {k: np.array([r[k] for r in rows], dtype=object if isinstance(rows[0][k], str) else None)
                for k in rows[0]}


# ---------------------------------------------------------------------------------------------- the output folder
class Results:
    """The output folder: a journal of Parquet parts written as files finish, the resume index, and the final
    tables (``results.parquet``, ``timeline.parquet``, ``attention.parquet``, CSV copies on request)."""

    TABLES = ("files", "timeline", "attention")

    def __init__(self, out: str | Path, run_id: str, flush_every: int = 8, flush_seconds: float = 10.0) -> None:
        self.out = Path(out)
        self.run_id = run_id
        self.flush_every, self.flush_seconds = max(1, int(flush_every)), float(flush_seconds)
        for t in self.TABLES:
            (self.out / "parts" / t).mkdir(parents=True, exist_ok=True)
        (self.out / "runs").mkdir(exist_ok=True)
        self._buffer: list[dict[str, Any]] = []
        self.counted = {"ok": 0, "errors": 0}  # rows added by this run
        self._seq = 0
        self._last_flush = time.monotonic()

    # -- reading
    def _read(self, table: str) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = sorted((self.out / "parts" / table).glob("*.parquet"))
        tables = [pq.read_table(p) for p in parts]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="permissive")

    def done(self, retry_errors: bool = False) -> dict[tuple[str, int, int], dict[str, Any]]:
        """Files already in the results (latest row per version): ok rows and input errors (all errors are
        retried with ``retry_errors``; internal errors, e.g. a crashed worker, always are)."""
        t = self._read("files")
        if t is None:
            return {}
        out: dict[tuple[str, int, int], dict[str, Any]] = {}
        cols = t.select(["path", "size_bytes", "mtime_ns", "status", "error_kind", "scored_at"]).to_pylist()
        for r in sorted(cols, key=lambda r: r["scored_at"]):
            if r["status"] == "ok" or (r["error_kind"] == INPUT_ERROR and not retry_errors):
                out[file_key(r)] = r
            else:
                out.pop(file_key(r), None)
        return out

    # -- writing
    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            self.counted["ok" if r["status"] == "ok" else "errors"] += 1
            self._buffer.append(r)
        # A part every flush_every files (at most one every 2 s, so a large cluster does not write thousands of
        # tiny files) and at least every flush_seconds: a killed driver loses seconds of results, never more.
        elapsed = time.monotonic() - self._last_flush
        if (len(self._buffer) >= self.flush_every and elapsed >= 2.0) or elapsed >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one part per table (atomically: a part is complete or absent)."""
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        files, timeline, attention = [], [], []
        for r in rows:
            base = {"result_id": r["result_id"], "id": r["id"], "path": r["path"]}
            timeline += [{**base, "start": s, "end": e, "label": k, "score": v, "raw": raw}
                         for s, e, k, v, raw in json.loads(r.get("_timeline") or "[]")]
            attention += [{**base, "label": k, "part": p, "share": v}
                          for k, p, v in json.loads(r.get("_attention") or "[]")]
            files.append({k: v for k, v in r.items() if k not in _INTERNAL})
        name = f"part-{self.run_id}-{self._seq:06d}.parquet"
        self._seq += 1
        for table, recs in (("files", files), ("timeline", timeline), ("attention", attention)):
            if recs:
                self._write(recs, self.out / "parts" / table / name)
        self._last_flush = time.monotonic()

    @staticmethod
    def _write(records: list[dict[str, Any]] | Any, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = records if isinstance(records, pa.Table) else pa.Table.from_pylist(records)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)

    def finalize(self, items: Sequence[dict[str, Any]], csv_too: bool = False) -> dict[str, int]:
        """Compact the journal (latest row per file) and write the final tables; returns row counts."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self.flush()
        files = self._read("files")
        counts = {"files": 0, "errors": 0, "timeline": 0, "attention": 0}
        if files is None:
            return counts
        meta = {it["path"]: it["meta"] for it in items if it.get("meta")}
        latest: dict[str, int] = {}
        stamps = files.column("scored_at").to_pylist()
        for i, (p, at) in enumerate(zip(files.column("path").to_pylist(), stamps, strict=True)):
            if p not in latest or at >= stamps[latest[p]]:
                latest[p] = i
        files = files.take(sorted(latest.values()))
        keep = set(files.column("result_id").to_pylist())
        old_parts = {t: sorted((self.out / "parts" / t).glob("*.parquet")) for t in self.TABLES}
        compact = f"part-{self.run_id}-compact.parquet"
        tables = {"files": files}
        for t in ("timeline", "attention"):
            tab = self._read(t)
            if tab is not None:
                tab = tab.filter(pc.is_in(tab.column("result_id"), value_set=pa.array(sorted(keep))))
            tables[t] = tab
        for t, tab in tables.items():  # the compacted journal first, then the old parts go
            if tab is not None and tab.num_rows:
                self._write(tab, self.out / "parts" / t / compact)
            for p in old_parts[t]:
                if p.name != compact:
                    p.unlink(missing_ok=True)
        # the final tables: metadata columns from the manifest (this run's inputs) beside each file's row
        if meta:
            names = sorted({k for m in meta.values() for k in m})
            paths = files.column("path").to_pylist()
            for k in names:
                col = k if k not in files.column_names else f"meta_{k}"
                vals = [meta.get(p, {}).get(k) for p in paths]
                with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError):
                    files = files.append_column(col, pa.array(vals))
                    continue
                files = files.append_column(col, pa.array([None if v is None else str(v) for v in vals]))
        files = files.sort_by([("path", "ascending")])
        self._write(files, self.out / "results.parquet")
        counts["files"] = files.num_rows
        counts["errors"] = int(pc.sum(pc.equal(files.column("status"), "error")).as_py() or 0)
        for t in ("timeline", "attention"):
            tab = tables[t]
            if tab is not None and tab.num_rows:
                tab = tab.sort_by([("path", "ascending")] + ([("start", "ascending")] if t == "timeline" else []))
                self._write(tab, self.out / f"{t}.parquet")
                counts[t] = tab.num_rows
        if csv_too:
            import pyarrow.csv as pcsv

            pcsv.write_csv(files, self.out / "results.csv")
            for t in ("timeline", "attention"):
                if counts[t]:
                    pcsv.write_csv(tables[t], self.out / f"{t}.csv")
        return counts


# ---------------------------------------------------------------------------------------------- the run manifest
def checkpoint_info(checkpoint: str | None) -> dict[str, Any]:
    """The checkpoint's directory, SHA-256 of its weights and config, labels and thresholds."""
    from .config import TailorConfig
    from .predictor import default_checkpoint

    path = Path(checkpoint) if checkpoint else default_checkpoint()
    info: dict[str, Any] = {"path": str(path)}
    for name in ("model.safetensors", "config.json"):
        digest = hashlib.sha256()
        with open(path / name, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
        info[f"sha256_{name.split('.')[0]}"] = digest.hexdigest()
    cfg = TailorConfig.load(path / "config.json")
    info["labels"] = list(cfg.labels)
    info["thresholds"] = dict(zip(cfg.labels, cfg.label_thresholds(), strict=True))
    return info


def versions() -> dict[str, str]:
    from importlib import metadata

    from . import __version__

    out = {"tailor_core": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for dist in ("torch", "ray", "pyarrow", "faster-whisper", "mediapipe"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- engines
def ray_available() -> bool:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def _run_local(todo: list[dict[str, Any]], scorer_kwargs: dict[str, Any], sink: Results, bar: Any,
               predictor: Any = None) -> None:
    scorer = Scorer(**scorer_kwargs, predictor=predictor)
    for item in todo:
        row = scorer.score(item)
        sink.add([row])
        bar.update(1)
        if row["error"]:
            bar.write(f"{row['path']}: {row['error']}")


@dataclasses.dataclass
class RayOptions:
    """How the Ray engine runs (see ``--help``)."""

    address: str | None = None  # None: a Ray started in this process on this machine
    cpus: int | None = None  # local Ray: CPUs it may use (default all)
    workers: int | None = None  # actors (default: as many as the CPUs / GPUs allow)
    cpus_per_worker: float | None = None  # default 1 (CPU actors) or 4 (GPU actors)
    gpus_per_worker: float | None = None  # default 1 when the cluster has GPUs, else 0
    progress: bool = False  # Ray's own progress bars


def _ray_init(opts: RayOptions) -> bool:
    """Start or join Ray; True when this call started it (and should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    address = opts.address or os.environ.get("RAY_ADDRESS") or None
    env = {"RAY_USAGE_STATS_ENABLED": "0", "TAILOR_BATCH_ACTOR": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    quiet = {} if opts.progress else {"logging_level": logging.WARNING}
    if not opts.progress:  # our own progress bar instead of Ray's, without its notice that they are off
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").addFilter(lambda r: "disabled" not in r.getMessage())
    if address:
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False, **quiet)
    else:
        here = str(Path(__file__).resolve().parent.parent)  # actors import tailor_core from where we did
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
        ray.init(address="local", num_cpus=opts.cpus or os.cpu_count(), include_dashboard=False,
                 runtime_env={"env_vars": env}, log_to_driver=False, _node_ip_address="127.0.0.1", **quiet)
    return True


def _run_ray(todo: list[dict[str, Any]], scorer_kwargs: dict[str, Any], sink: Results, bar: Any,
             opts: RayOptions, run_info: dict[str, Any]) -> set[str]:
    """Score ``todo`` with Ray Data; returns the paths whose rows came back."""
    import ray
    import ray.data

    started = _ray_init(opts)
    returned: set[str] = set()
    try:
        resources = ray.cluster_resources()
        total_cpus, total_gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
        gpus = opts.gpus_per_worker if opts.gpus_per_worker is not None else (1.0 if total_gpus >= 1 else 0.0)
        cpus = opts.cpus_per_worker or (4.0 if gpus else 1.0)
        cap = int(total_gpus / gpus) if gpus else int(total_cpus // cpus)
        workers = max(1, min(opts.workers or cap or 1, len(todo)))
        scorer_kwargs = {**scorer_kwargs, "device": "cuda" if gpus else "cpu"}
        run_info.update({"ray_address": opts.address or os.environ.get("RAY_ADDRESS") or "local",
                         "cluster_cpus": total_cpus, "cluster_gpus": total_gpus, "workers": workers,
                         "cpus_per_worker": cpus, "gpus_per_worker": gpus})
        # This machine: a fixed pool. A cluster: a pool that grows to --workers as the autoscaler adds nodes.
        pool = (ray.data.ActorPoolStrategy(size=workers) if run_info["ray_address"] == "local"
                else ray.data.ActorPoolStrategy(min_size=1, max_size=workers))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = bool(opts.progress)
        ctx.max_errored_blocks = -1  # a file that kills its worker twice loses its own block, not the job
        ctx.enable_operator_progress_bars = bool(opts.progress)
        records = [{k: it[k] for k in ("path", "id", "size_bytes", "mtime_ns", "kind")} for it in todo]
        ds = ray.data.from_items(records, override_num_blocks=min(len(records), 20_000))
        with warnings.catch_warnings():  # max_task_retries has no named parameter yet (Ray 2.60)
            warnings.simplefilter("ignore", DeprecationWarning)
            # An actor that dies (a file that crashes the decoder, a lost node) is restarted and its file
            # tried once more, not forever (Ray's default).
            ds = ds.map_batches(Scorer, fn_constructor_kwargs=scorer_kwargs, batch_size=1, batch_format="numpy",
                                compute=pool, num_cpus=cpus,
                                num_gpus=gpus or None, max_task_retries=1, max_restarts=-1)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            n = len(batch["path"])
            rows = [{k: _py(batch[k][i]) for k in batch} for i in range(n)]
            sink.add(rows)
            for r in rows:
                returned.add(r["path"])
                if r["error"]:
                    bar.write(f"{r['path']}: {r['error']}")
            bar.update(n)
    finally:
        if started:
            ray.shutdown()
    return returned


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# ---------------------------------------------------------------------------------------------- the run
def run(inputs: Sequence[str | Path], out: str | Path, *, engine: str = "auto", checkpoint: str | None = None,
        limits: Limits = DEFAULT_LIMITS, timeline: bool = False, attention: bool = False, csv_too: bool = False,
        retry_errors: bool = False, ray_options: RayOptions | None = None, path_column: str | None = None,
        id_column: str | None = None, flush_every: int = 8, predictor: Any = None, quiet: bool = False,
        log: Any = None) -> dict[str, Any]:
    """Score ``inputs`` into ``out`` (see the module docstring); returns the run manifest.

    ``engine``: ``"ray"``, ``"local"`` (this process) or ``"auto"`` (Ray when installed). ``predictor``: an
    already loaded Predictor for the local engine (tests)."""
    from tqdm import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if engine == "auto":
        engine = "ray" if ray_available() else "local"
        if engine == "local":
            log("ray is not installed: scoring in this process (pip install '.[scale]' for Ray)")
    elif engine == "ray" and not ray_available():
        raise RuntimeError("the ray engine needs Ray Data: pip install '.[scale]' (or -r requirements-scale.txt)")
    t0, started = time.time(), _now()
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    sink = Results(out, run_id, flush_every=flush_every)
    items = discover(inputs, path_column, id_column)
    done = sink.done(retry_errors)
    todo = [it for it in items if file_key(it) not in done]
    manifest: dict[str, Any] = {
        "run_id": run_id, "status": "running", "started": started, "finished": None, "engine": engine,
        "inputs": [str(i) for i in inputs], "out": str(Path(out).resolve()),
        "checkpoint": checkpoint_info(checkpoint), "limits": dataclasses.asdict(limits),
        "options": {"timeline": timeline, "attention": attention, "csv": csv_too, "retry_errors": retry_errors},
        "versions": versions(),
        "counts": {"discovered": len(items), "skipped_already_done": len(items) - len(todo), "to_score": len(todo)},
    }
    manifest_path, run_path = sink.out / "manifest.json", sink.out / "runs" / f"{run_id}.json"
    _write_json(run_path, manifest)
    scorer_kwargs = {"checkpoint": checkpoint, "limits": dataclasses.asdict(limits), "timeline": timeline,
                     "attention": attention}
    bar = tqdm(total=len(todo), desc="scoring", unit="file", file=sys.stderr, disable=quiet or not todo,
               dynamic_ncols=True)
    counted = sink.counted
    status = "finished"
    try:
        if todo and engine == "ray":
            returned = _run_ray(todo, scorer_kwargs, sink, bar, ray_options or RayOptions(), manifest)
            lost = [it for it in todo if it["path"] not in returned]
            # Files whose worker died on every try: an error row each, scored again on a rerun.
            sink.add([result_row(it, None, "The worker scoring this file stopped (crashed or was killed).",
                                 INTERNAL_ERROR) for it in lost])
        elif todo:
            _run_local(todo, scorer_kwargs, sink, bar, predictor)
    except KeyboardInterrupt:
        status = "interrupted"
        log("interrupted: the files finished so far are kept; run the same command again to go on")
    except BaseException:
        status = "failed"
        raise
    finally:
        bar.close()
        sink.flush()
        counts = sink.finalize(items, csv_too)
        minutes = (time.time() - t0) / 60
        scored = counted["ok"] + counted["errors"]
        manifest.update(status=status, finished=_now(), minutes=round(minutes, 4))
        manifest["counts"].update(scored_ok=counted["ok"], errors=counted["errors"],
                                  files_per_minute=round(scored / minutes, 3) if minutes > 0 else None,
                                  results_rows=counts["files"], results_errors=counts["errors"],
                                  timeline_rows=counts["timeline"], attention_rows=counts["attention"])
        _write_json(run_path, manifest)
        _write_json(manifest_path, manifest)
    rate = scored / minutes if minutes > 0 else 0.0
    manifest["summary"] = (f"{len(items)} file{'s' if len(items) != 1 else ''}: {counted['ok']} scored, "
                           f"{counted['errors']} errors, "
                           f"{len(items) - len(todo)} already done; {minutes:.2f} min, {rate:.1f} files/min "
                           f"({engine}) -> {Path(out) / 'results.parquet'}")
    if status == "interrupted":
        raise KeyboardInterrupt
    return manifest


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tailor_core.batch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="folders, globs, media files, or CSV/Parquet manifests")
    p.add_argument("--out", required=True, help="output folder (created; a rerun into it resumes)")
    p.add_argument("--timeline", action="store_true", help="also timeline.parquet: one row per window and label")
    p.add_argument("--attention", action="store_true", help="also attention.parquet: each label's attention share")
    p.add_argument("--csv", action="store_true", help="also CSV copies of the tables")
    p.add_argument("--retry-errors", action="store_true", help="score files that gave an error row again")
    p.add_argument("--engine", choices=("auto", "ray", "local"), default="auto",
                   help="ray (Ray Data), local (this process, no Ray) or auto (ray when installed; default)")
    p.add_argument("--address", help="a Ray cluster ('auto': the one this machine belongs to; default "
                                     "$RAY_ADDRESS, else a Ray started in this process)")
    p.add_argument("--cpus", type=int, help="local Ray: CPUs to use (default all)")
    p.add_argument("--workers", type=int, help="Ray actors, each with its own model (default: as many as fit)")
    p.add_argument("--cpus-per-worker", type=float, help="CPUs per actor (default 1; 4 for GPU actors)")
    p.add_argument("--gpus-per-worker", type=float,
                   help="GPUs per actor (default 1 where the cluster has GPUs; 0 for CPU actors)")
    p.add_argument("--ray-progress", action="store_true", help="show Ray's own progress bars too")
    p.add_argument("--path-column", help="manifests: the column with the file paths (default path/file/...)")
    p.add_argument("--id-column", help="manifests: the column with ids (default 'id', else the path)")
    p.add_argument("--checkpoint", help="checkpoint directory (default: the shipped checkpoints/tailor-demo)")
    p.add_argument("--max-seconds", type=float, default=DEFAULT_LIMITS.max_seconds,
                   help="analyse at most this many seconds of each clip (default %(default)s, $TAILOR_MAX_SECONDS)")
    p.add_argument("--max-file-mb", type=float, default=DEFAULT_LIMITS.max_file_mb,
                   help="refuse files larger than this (default %(default)s, $TAILOR_MAX_FILE_MB)")
    p.add_argument("--flush-every", type=int, default=8, help="write a results part every N files (default 8)")
    p.add_argument("--dry-run", action="store_true",
                   help="only count the files found and those a run would score (writes nothing)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limits = dataclasses.replace(DEFAULT_LIMITS, max_seconds=args.max_seconds, max_file_mb=args.max_file_mb)
    opts = RayOptions(address=args.address, cpus=args.cpus, workers=args.workers,
                      cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                      progress=args.ray_progress)
    if args.dry_run:
        items = discover(args.inputs, args.path_column, args.id_column)
        out = Path(args.out)
        done = Results(out, "dry-run").done(args.retry_errors) if (out / "parts" / "files").is_dir() else {}
        todo = sum(file_key(it) not in done for it in items)
        print(f"{len(items)} files found: {todo} to score, {len(items) - todo} already done in {out}")
        return 0
    try:
        manifest = run(args.inputs, args.out, engine=args.engine, checkpoint=args.checkpoint, limits=limits,
                       timeline=args.timeline, attention=args.attention, csv_too=args.csv,
                       retry_errors=args.retry_errors, ray_options=opts, path_column=args.path_column,
                       id_column=args.id_column, flush_every=args.flush_every, quiet=args.quiet)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(manifest["summary"])
    return 0


if __name__ == "__main__":
    from .offline import enforce

    enforce()  # no telemetry from any library (Ray's usage stats are off too), inherited by a local Ray
    sys.exit(main())
