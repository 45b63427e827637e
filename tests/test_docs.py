"""The documentation points at things that exist: README.md stays a short entry page, its set-up and test commands
are the ones CI runs, and every relative link, anchor, `python -m` module, script and repository path named in the
Markdown files is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted([README, ROOT / "CHANGELOG.md", ROOT / "checkpoints" / "README.md", ROOT / "assets" / "README.md",
               ROOT / "tests" / "fixtures" / "README.md", *(ROOT / "docs").glob("*.md")])
MAX_README_LINES = 250

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
MODULE = re.compile(r"(?:python3?|torchrun)\b[^\n`]*?\s-m\s+([A-Za-z_][\w.]*)")
SCRIPT = re.compile(r"\bpython3?\s+((?:[\w-]+/)*[\w-]+\.py)\b")
#: Top-level folders of this repository: a path in backticks that starts with one of them must exist.
REPO_PATH = re.compile(r"`((?:tailor_core|training|scripts|benchmarks|tests|docs|assets|checkpoints|configs|web|deploy)"
                       r"/[\w./-]*)`")
#: Modules run with `-m` that are not this repository's.
OUTSIDE_MODULES = {"venv", "pip", "pytest"}
#: Written by a test run, not committed.
GENERATED = ("tests/artifacts/",)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


def _module_exists(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def test_readme_is_short_and_keeps_the_space_card_header() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    header = re.match(r"\A---\n(.*?)\n---\n", text, flags=re.S)
    assert header, "the Space's YAML card header is missing"
    for key in ("title:", "sdk: gradio", "app_file: app.py", "license:"):
        assert key in header.group(1)


def test_readme_commands_are_the_ones_ci_runs() -> None:
    """Every step of .ci/run's set-up and test part is in the README's test command, in the same order, and the
    app command sets up from requirements.txt and starts app.py."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    app = [c for c in commands if c.endswith("python app.py")]
    assert app and "pip install -r requirements.txt" in app[0] and app[0].startswith("python3 -m venv .venv")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").split("# README: set-up", 1)[1]
    steps = [re.sub(r"^pip install -q ", "pip install ", line.strip()) for line in ci.splitlines()
             if line.strip() and not line.startswith("#") and "--upgrade pip" not in line]
    assert steps, ".ci/run has no README part"
    tests = [c for c in commands if c.endswith(steps[-1])]
    assert tests, f"no README command ends with {steps[-1]!r}"
    parts = [p.strip() for p in tests[0].split("&&")]
    assert parts == steps, f"README's test command {parts} differs from .ci/run's steps {steps}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_relative_links_and_anchors_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc
        if not dest.exists():
            missing.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            missing.append(target)
    assert not missing, f"{doc.relative_to(ROOT)}: broken links {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_named_modules_scripts_and_paths_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    modules = {m for m in MODULE.findall(text) if m.split(".")[0] not in OUTSIDE_MODULES}
    missing = [f"python -m {m}" for m in sorted(modules) if not _module_exists(m)]
    missing += [f"python {s}" for s in sorted(set(SCRIPT.findall(text))) if not (ROOT / s).is_file()]
    paths = {p.rstrip(".") for p in REPO_PATH.findall(text) if not p.startswith(GENERATED)}
    missing += [p for p in sorted(paths) if not (ROOT / p).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} names what is not in the repository: {missing}"


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name != "CHANGELOG.md"],
                         ids=_ids([d for d in DOCS if d.name != "CHANGELOG.md"]))
def test_no_issue_numbers_or_dates_outside_the_changelog(doc: Path) -> None:
    """History (dates, issue numbers) lives in CHANGELOG.md; the README, docs/ and the cards describe what is."""
    text = doc.read_text(encoding="utf-8")
    found = re.findall(r"\bissues? #?\d+|#\d{1,4}\b(?!\))|\b20\d\d-\d\d-\d\d\b", text, flags=re.I)
    assert not found, f"{doc.relative_to(ROOT)}: {found}"
