"""Files a web server received: kept while a page shows them, deleted when nothing needs them any more.

A Gradio server stores each upload as ``<root>/<hash of its bytes>/<its name>``: two visitors (or two API calls)
sending the same bytes share one path, so deleting it after "my" request breaks theirs, and a visitor who presses
Analyse again on the file still on screen needs it too. :class:`UploadStore` therefore never deletes on the
request path. It knows

* what each page shows (:meth:`UploadStore.show`, one entry per input slot; the entry is released when the
  visitor replaces or clears it, and every entry of a page when the page is closed: :meth:`UploadStore.forget`);
* what requests are reading right now (:meth:`UploadStore.reading`);

and :meth:`UploadStore.sweep` deletes every other upload: one the app has handled (shown or read) once it is
``grace`` seconds old, one it has never handled (its request is still waiting in the server's queue, or never
came) only after ``unclaimed_grace``; plus stray partial files of aborted uploads. The shipped
example files' copies (public data, shown on every page) are never deleted; an upload whose bytes equal an example
but whose name is the visitor's own is an upload like any other.

Nothing here knows Gradio: the app passes the folder and the example files.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class UploadStore:
    """The uploads under ``root``: who shows or reads which, and a sweep that deletes the rest.

    Args:
        root: the folder the server stores uploads in.
        examples: the shipped example files; their copies in ``root`` (same name, same bytes) are kept.
        grace: an upload the app has handled and nobody shows or reads any more is deleted once it is this many
            seconds old.
        unclaimed_grace: an upload no request has handled yet (queued behind others, or abandoned) is deleted
            once it is this many seconds old: longer than a request waits in the queue.
        stray_age: a loose file directly in ``root`` (an upload being received, or one that was aborted) is
            deleted once it has not changed for this many seconds.
    """

    def __init__(self, root: str | Path, examples: Iterable[str | Path] = (), grace: float = 30.0,
                 stray_age: float = 300.0, unclaimed_grace: float = 600.0) -> None:
        self.root = Path(root).resolve()
        self.grace = float(grace)
        self.unclaimed_grace = float(unclaimed_grace)
        self.stray_age = float(stray_age)
        self._examples = {(Path(e).name, Path(e).stat().st_size): _sha256(Path(e)) for e in examples}
        self._shown: dict[str, dict[str, Path]] = {}
        self._reading: Counter[Path] = Counter()
        self._claimed: set[Path] = set()  # entries some page showed or some request read
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ what an upload is
    def entry(self, path: str | Path | None) -> Path | None:
        """The entry of ``root`` that holds ``path`` (its own folder, where a converted copy may sit beside it),
        or None for anything that is not an upload (outside ``root``, not a string, an example's copy)."""
        if not isinstance(path, (str, Path)) or not str(path):
            return None
        p = Path(path).resolve()
        if self.root not in p.parents or self.is_example(p):
            return None
        top = p.relative_to(self.root).parts[0]
        return self.root / top

    def is_example(self, path: Path) -> bool:
        """True for a copy of a shipped example: the example's name and bytes."""
        try:
            digest = self._examples.get((path.name, path.stat().st_size))
            return digest is not None and _sha256(path) == digest
        except OSError:
            return False

    # ------------------------------------------------------------------ who needs it
    def show(self, page: str, slots: dict[str, str | Path | None]) -> None:
        """Page ``page`` now shows these files (slot -> path, None for an empty slot); what it showed before in
        those slots is released."""
        with self._lock:
            shown = self._shown.setdefault(page, {})
            for slot, path in slots.items():
                entry = self.entry(path)
                if entry is None:
                    shown.pop(slot, None)
                else:
                    shown[slot] = entry
                    self._claimed.add(entry)
            if not shown:
                self._shown.pop(page, None)

    def forget(self, page: str) -> None:
        """Page ``page`` is closed: nothing it showed is needed by it any more."""
        with self._lock:
            self._shown.pop(page, None)

    @contextmanager
    def reading(self, *paths: str | Path | None) -> Iterator[None]:
        """The files in ``paths`` are being read (a request is running): never swept meanwhile."""
        entries = [e for e in map(self.entry, paths) if e is not None]
        with self._lock:
            self._reading.update(entries)
            self._claimed.update(entries)
        try:
            yield
        finally:
            with self._lock:
                self._reading.subtract(entries)
                self._reading += Counter()  # drop zero counts

    def needed(self) -> set[Path]:
        """Entries some page shows or some request reads."""
        with self._lock:
            return {e for shown in self._shown.values() for e in shown.values()} | set(self._reading)

    # ------------------------------------------------------------------ deleting the rest
    def sweep(self, now: float | None = None) -> list[Path]:
        """Delete every upload nobody needs that is older than ``grace`` (``unclaimed_grace`` if the app never
        handled it), and stray partial files older than ``stray_age``; returns what was deleted. Example copies
        are kept."""
        now = time.time() if now is None else now
        if not self.root.is_dir():
            return []
        needed = self.needed()
        with self._lock:
            claimed = set(self._claimed)
        deleted: list[Path] = []
        for entry in list(self.root.iterdir()):
            if entry in needed:
                continue
            try:
                if entry.is_dir():
                    files = [f for f in entry.rglob("*") if f.is_file()]
                    if any(self.is_example(f) for f in files):
                        for f in files:  # an example's folder: keep the example, drop anything else in it
                            if not self.is_example(f) and now - f.stat().st_mtime > self.grace:
                                f.unlink(missing_ok=True)
                                deleted.append(f)
                        continue
                    newest = max((f.stat().st_mtime for f in files), default=entry.stat().st_mtime)
                    if now - newest > (self.grace if entry in claimed else self.unclaimed_grace):
                        shutil.rmtree(entry, ignore_errors=True)
                        deleted.append(entry)
                        with self._lock:
                            self._claimed.discard(entry)
                elif now - entry.stat().st_mtime > self.stray_age:
                    entry.unlink(missing_ok=True)
                    deleted.append(entry)
            except OSError:  # deleted meanwhile, or not ours to delete
                continue
        return deleted

    def remove_all(self) -> None:
        """Delete the whole folder (the server is stopping)."""
        shutil.rmtree(self.root, ignore_errors=True)


__all__ = ["UploadStore"]
