"""Command-line prediction with a TAILOR checkpoint.

One input (or a combination of one of each)::

    python -m tailor_core.cli --video clip.mp4
    python -m tailor_core.cli --image face.jpg --text "what a lovely surprise" --json

Batch: several files and/or folders as positional arguments, one JSON object per line (default) or a CSV::

    python -m tailor_core.cli clips/ other.mp4 > results.jsonl
    python -m tailor_core.cli clips/ --csv results.csv

Each file's kind is chosen by its extension (video, audio or image). A file that fails gets an ``error``
entry (JSON lines) or an ``error`` column (CSV); the run goes on, and the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import summary
from .config import DISPLAY_NAMES, PC_PARTS
from .features.errors import display_name
from .features.media import MEDIA_EXTENSIONS, kind_of
from .options import DEFAULT_LIMITS
from .readouts import readout_line


@contextlib.contextmanager
def quiet_native_logs(enabled: bool = True) -> Iterator[None]:
    """Send what libraries write straight to the error stream (MediaPipe's and TensorFlow Lite's native log
    lines, the words model's 'Loading weights' bar) to nowhere while models load and run, so the command prints
    only its own lines. ``--verbose`` keeps them."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """Files given directly, plus media files found (recursively, sorted) in the given folders."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_EXTENSIONS))
        else:
            out.append(p)
    return out


def _format_text(result: dict[str, Any]) -> str:
    lines = [f"labels: {', '.join(result['labels']) or '(none over threshold)'}"]
    for label, score in result["scores"].items():
        bar = "█" * round(score * 30)
        mark = " *" if label in result["labels"] else ""
        lines.append(f"  {label:9s} {score:5.3f} (thr {result['thresholds'][label]:.2f}) {bar}{mark}")
    if result.get("transcript"):
        lines.append(f"transcript: {result['transcript']}")
    lines.append("attention share (" + " / ".join(DISPLAY_NAMES[p] for p in PC_PARTS) + "):")
    for label, share in result.get("modality_attention", {}).items():
        lines.append(f"  {label:9s} " + " / ".join(f"{share[p]:.2f}" for p in PC_PARTS))
    if result.get("readouts"):
        lines.append(f"each encoder alone: {readout_line(result['readouts'], DISPLAY_NAMES)}")
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    if result.get("timeline"):
        lines.append(f"timeline: {len(result['timeline'])} windows")
    return "\n".join(lines)


def _csv_row(path: str, result: dict[str, Any] | None, error: str | None, labels: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"file": path}
    for k in labels:
        row[k] = f"{result['scores'][k]:.6f}" if result else ""
    row["labels"] = " ".join(result["labels"]) if result else ""
    row["transcript"] = result.get("transcript", "") if result else ""
    row["error"] = error or ""
    return row


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tailor_core.cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help="media files or folders for batch prediction (JSON lines or --csv)")
    p.add_argument("--video", help="a clip (its audio track and speech are used too)")
    p.add_argument("--audio", help="a voice recording")
    p.add_argument("--image", help="a face photo")
    p.add_argument("--text", help="a sentence")
    p.add_argument("--checkpoint", help="checkpoint directory (default: the shipped checkpoints/tailor-demo)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--csv", metavar="OUT", help="batch mode: write a CSV here instead of JSON lines")
    p.add_argument("--full", action="store_true", help="batch mode: full results (timeline, attention) per line")
    p.add_argument("--max-seconds", type=float, default=DEFAULT_LIMITS.max_seconds,
                   help="analyse at most this many seconds of each clip (default %(default)s, $TAILOR_MAX_SECONDS)")
    p.add_argument("--max-file-mb", type=float, default=DEFAULT_LIMITS.max_file_mb,
                   help="refuse files larger than this (default %(default)s, $TAILOR_MAX_FILE_MB)")
    p.add_argument("--no-face-guard", action="store_true",
                   help="let the face raise labels it does not show itself (the raw fusion; see docs/robustness.md)")
    p.add_argument("--one-voice-pass", action="store_true",
                   help="encode a file's voice in one pass instead of in pieces cut at its pauses (the reading "
                        "before the cut; see docs/robustness.md)")
    p.add_argument("--verbose", action="store_true", help="show the libraries' own log lines and loading bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    single = any(v is not None for v in (args.video, args.audio, args.image, args.text))
    if not single and not args.files:
        build_parser().print_usage(sys.stderr)
        print("error: give --video/--audio/--image/--text, or files/folders", file=sys.stderr)
        return 2
    if single and args.files:
        print("error: use either --video/--audio/--image/--text or positional files, not both", file=sys.stderr)
        return 2

    from .features import FeatureError
    from .predictor import load_model

    try:
        limits = dataclasses.replace(DEFAULT_LIMITS, max_seconds=args.max_seconds, max_file_mb=args.max_file_mb)
        with quiet_native_logs(not args.verbose):
            # each feature model loads when an input first needs it: a photo or a sentence alone loads less
            predictor = load_model(args.checkpoint, device=args.device, limits=limits, preload=False,
                                   voice_pieces=not args.one_voice_pass, face_guard=not args.no_face_guard)
    except (OSError, ValueError) as e:
        print(f"error: cannot load the checkpoint: {e}", file=sys.stderr)
        return 2

    if single:
        try:
            with quiet_native_logs(not args.verbose):
                pred = predictor.predict(video=args.video, audio=args.audio, image=args.image, text=args.text)
        except FeatureError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except OSError as e:  # a model file loaded on first use (preload=False) is missing or damaged
            print(f"error: cannot load a model: {e}", file=sys.stderr)
            return 2
        result = pred.to_dict()
        if args.json:
            print(json.dumps(result, indent=1))
        else:  # the headline and what was read, as the app words them, then the details
            timed = bool(args.video or args.audio)
            print(f"{summary.headline(pred).capitalize()}\nused: {summary.inputs_line(pred, timed)}\n"
                  f"{_format_text(result)}")
        return 0

    from tqdm import tqdm

    files = collect(args.files)
    if not files:
        print("error: no media files found", file=sys.stderr)
        return 1
    failures = 0
    labels = list(predictor.labels)
    writer = None
    out_csv = open(args.csv, "w", newline="", encoding="utf-8") if args.csv else None  # noqa: SIM115
    try:
        if out_csv is not None:
            writer = csv.DictWriter(out_csv, fieldnames=["file", *labels, "labels", "transcript", "error"])
            writer.writeheader()
        for path in tqdm(files, desc="predicting", unit="file", file=sys.stderr):
            result: dict[str, Any] | None = None
            error: str | None = None
            kind = kind_of(path)
            try:
                if kind is None:
                    raise FeatureError(f"{display_name(path)}: unknown file type")
                if not path.is_file():
                    raise FeatureError(f"{display_name(path)}: no such file")
                with quiet_native_logs(not args.verbose):
                    result = predictor.predict(**{kind: str(path)}).to_dict()
            except FeatureError as e:
                error = str(e)
            except Exception as e:  # noqa: BLE001 - one bad file must not stop a batch
                error = f"{type(e).__name__}: {e}"
            if error:
                failures += 1
                tqdm.write(f"{display_name(path)}: {error}", file=sys.stderr)
            if writer is not None:
                writer.writerow(_csv_row(str(path), result, error, labels))
                out_csv.flush()
            else:
                if result is not None and not args.full:
                    result = {k: result[k] for k in ("scores", "labels", "transcript", "present", "duration")}
                line = {"file": str(path), **(result or {}), **({"error": error} if error else {})}
                print(json.dumps(line), flush=True)
    finally:
        if out_csv is not None:
            out_csv.close()
    print(f"{len(files) - failures}/{len(files)} files predicted", file=sys.stderr)
    return 1 if failures else 0


def run() -> None:
    """``python -m tailor_core.cli``: offline first (no telemetry from any library, Python or native), then
    :func:`main`."""
    from .offline import enforce

    enforce()
    sys.exit(main())


if __name__ == "__main__":
    run()
