"""The package's shape: one-way imports, resources found and checked, module-level app handlers, pure scoring."""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from tailor_core import resources, scoring
from tailor_core.features import FeatureBundle

PACKAGE = Path(__file__).resolve().parent.parent / "tailor_core"


def _imports() -> dict[str, set[str]]:
    """Module -> tailor_core modules it imports (relative imports resolved), from the source."""
    mods = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg
                for _ in range(node.level - 1):
                    base = base.rsplit(".", 1)[0]
                target = f"{base}.{node.module}" if node.module else base
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    edges[m].add(full if full in mods else target)
    return {m: {t for t in e if t in mods and t != m} for m, e in edges.items()}


def test_no_import_circles():
    edges = _imports()

    def reaches(a: str, b: str, seen: set[str]) -> bool:
        return any(w == b or (w not in seen and reaches(w, b, seen | {w})) for w in edges[a])

    package_inits = {m for m in edges if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    circles = [(a, b) for a in edges for b in edges[a] if b not in package_inits and reaches(b, a, {b})]
    assert not circles, f"import circles: {circles}"


def test_features_know_nothing_above_them():
    edges = _imports()
    leaves = {"tailor_core.config", "tailor_core.offline", "tailor_core.options", "tailor_core.progress",
              "tailor_core.resources"}
    for m, targets in edges.items():
        if m.startswith("tailor_core.features"):
            above = {t for t in targets if not t.startswith("tailor_core.features")}
            assert above <= leaves, (m, above)
    for leaf in leaves:  # what the features may use stands on nothing of the package itself
        assert not edges[leaf], (leaf, edges[leaf])


def test_runtime_does_not_import_training():
    """The runtime package never names the training area, and importing everything the app runs loads none of it."""
    for p in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad = [n for n in names if n.split(".")[0] in {"training", "sklearn", "librosa", "scripts", "benchmarks"}]
            assert not bad, f"{p.relative_to(PACKAGE.parent)} imports {bad}"
    code = ("import sys, tailor_core, tailor_core.predictor, tailor_core.live, tailor_core.plots, tailor_core.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'sklearn', 'librosa')))")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent,
                         check=True).stdout.strip()
    assert out == "[]", out


def test_wheel_ships_the_runtime_and_its_weights_only(tmp_path):
    """``pip install .`` gets tailor_core with the checkpoint and the encoders' weights, and no training code."""
    import subprocess
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(PACKAGE.parent)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith(("training/", "scripts/", "benchmarks/", "tests/"))]
    for needed in ("tailor_core/predictor.py", "tailor_core/checkpoints/tailor-demo/model.safetensors",
                   "tailor_core/checkpoints/tailor-demo/config.json", "tailor_core/assets/face_landmarker.task",
                   "tailor_core/assets/face_expression.safetensors", "tailor_core/assets/text_emotion.safetensors",
                   "tailor_core/assets/voice_emotion.safetensors"):
        assert needed in names, needed


def test_resources_found_and_checked(tmp_path, monkeypatch):
    assert (resources.find("checkpoints", "tailor-demo") / "model.safetensors").is_file()
    assert resources.find("assets", "face_landmarker.task").is_file()
    with pytest.raises(resources.ResourceError, match="missing"):
        resources.find("assets", "no-such-model.bin")
    good = tmp_path / "w.bin"
    good.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    assert resources.check_sha256(good, digest, "test weights") == good
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"swapped")
    with pytest.raises(resources.ResourceError, match="damaged or not the expected file"):
        resources.check_sha256(bad, digest, "test weights")
    with pytest.raises(resources.ResourceError, match="missing"):
        resources.check_sha256(tmp_path / "gone.bin", digest, "test weights")
    monkeypatch.setenv(resources.HOME_ENV, str(tmp_path))
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "face_landmarker.task").write_bytes(b"x")
    assert resources.find("assets", "face_landmarker.task") == tmp_path / "assets" / "face_landmarker.task"


def test_scoring_combines_windows_by_valid_steps():
    b = FeatureBundle.empty(6)
    b.audio_mask[:4] = True
    b.visual_mask[5] = True  # valid = [T,T,T,T,F,T]
    spans = [(0, 3), (2, 5), (3, 6)]  # overlapping, as the timeline's windows are
    np.testing.assert_allclose(scoring.window_weights(b.valid, spans), [3 / 7, 2 / 7, 2 / 7])
    scores = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.2]])
    width = 3
    slices = {"text": slice(0, 3), "audio": slice(3, 6), "visual": slice(6, 9), "common": slice(9, 12)}
    attention = np.zeros((3, 2, 4 * width))
    attention[:, :, 3:6] = 1 / 6  # half on audio
    attention[:, :, 9:12] = 1 / 6  # half on common
    attention[1, :, 3] = 0.5  # window 1 looks hard at its first step (step 2), which window 0 also covers
    overall, share, maps = scoring.combine(b, spans, scores, attention, slices)
    np.testing.assert_allclose(overall, (3 * scores[0] + 2 * scores[1] + 2 * scores[2]) / 7)
    assert share.shape == (2, 4) and np.allclose(share.sum(1), 1) and not share[:, [0, 2]].any()
    assert maps["audio"].shape == (2, 6) and not maps["text"].any()
    np.testing.assert_allclose(maps["audio"][:, 2], (1 / 6 + 0.5) / 2)  # step 2: the mean of windows 0 and 1
    np.testing.assert_allclose(maps["audio"][:, [0, 1, 5]], 1 / 6)  # covered by one window each
    assert scoring.decide({"a": 0.5, "b": 0.2}, {"a": 0.5, "b": 0.3}) == ["a"]
    valid = np.array([False] * 4 + [True] * 12)
    spans = scoring.timeline_spans(valid, 8, 2)
    assert spans[0] == (0, 8) and spans[-1] == (8, 16) and all(valid[a:b].any() for a, b in spans)
    assert scoring.timeline_spans(np.zeros(3, bool), 8, 2) == []
    assert scoring.timeline_spans(np.ones(7, bool)) == [(a, a + 3) for a in range(5)]  # short input: 1.5 s windows


def test_prediction_json_is_safe():
    p = scoring.Prediction(scores={"happy": float("nan")}, labels=[], thresholds={"happy": 0.5},
                           timings={"total": np.float32(0.25)})
    d = p.to_dict()
    assert d["scores"]["happy"] is None and d["timings"]["total"] == 0.25


def _point(start: float, scores: dict[str, float]) -> scoring.TimelinePoint:
    """An unsmoothed 4 s timeline window."""
    return scoring.TimelinePoint(float(start), start + 4.0, scores, scores)


def test_smoothing_damps_a_one_step_spike():
    flat = {"happy": 0.1, "sad": 0.1}
    spike = {"happy": 0.1, "sad": 0.9}
    points = [_point(t, spike if t == 3 else flat) for t in range(8)]
    smoothed = scoring.smooth_timeline(points, tau=1.5)
    assert [p.raw for p in smoothed] == [p.raw for p in points]  # the model's values are kept
    w = 1 - np.exp(-1 / 1.5)  # one step 1 s after the last moves this much of the way
    before = smoothed[2].scores["sad"]
    peak = max(p.scores["sad"] for p in smoothed)
    assert peak == pytest.approx(before + (0.9 - before) * w)
    assert peak < 0.5 and smoothed[-1].scores["sad"] < 0.15
    assert scoring.ema(flat, spike, 0.0) == flat


def test_smoothing_damps_a_spike_in_the_first_window_too():
    # the first point starts from "no emotion": a 4 s window is 2 s of input at its centre
    points = [_point(0.0, {"sad": 0.9})] + [_point(t, {"sad": 0.1}) for t in range(1, 6)]
    smoothed = scoring.smooth_timeline(points, tau=1.5)
    assert smoothed[0].scores["sad"] == pytest.approx(0.9 * (1 - np.exp(-2 / 1.5)))
    assert all(p.scores["sad"] < 0.7 for p in smoothed) and smoothed[-1].scores["sad"] < 0.2
    assert scoring.ema(None, {"sad": 0.9}, 0.0) == {"sad": 0.0}  # no input behind it: nothing yet
    steady = scoring.smooth_timeline([_point(t, {"sad": 0.8}) for t in range(12)])
    assert steady[-1].scores["sad"] == pytest.approx(0.8, abs=1e-3)  # a lasting reading gets there


def test_results_and_settings_are_typed_and_frozen():
    import dataclasses

    from tailor_core import options
    from tailor_core.features import speech, stream, voice_states

    p = scoring.Prediction(scores={"sad": 0.5}, labels=["sad"], thresholds={"sad": 0.3},
                           timeline=[scoring.TimelinePoint(0.0, 4.0, {"sad": 0.4}, {"sad": 0.5})])
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.scores = {"sad": 0.1}  # type: ignore[misc]
    d = p.to_dict()
    assert d["timeline"] == [{"start": 0.0, "end": 4.0, "scores": {"sad": 0.4}, "raw": {"sad": 0.5}}]
    assert "smoothed" not in d and p.shown_scores is p.scores
    live = dataclasses.replace(p, smoothed={"sad": 0.2})
    assert live.shown_scores == {"sad": 0.2} and live.to_dict()["smoothed"] == {"sad": 0.2}
    for cls in (options.Limits, options.SpeechOptions, options.LiveOptions):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    # the speech and live settings live in options.py, not as module constants beside the code
    moved = {"ASR_EVERY_SECONDS", "ASR_STABLE_SECONDS", "ASR_MAX_PENDING_SECONDS", "ASR_PAUSE_SECONDS",
             "GAP_FILL_SECONDS", "KEEP_EXTRA_SECONDS", "TRANSCRIPT_WORDS", "LIVE_CONTEXT_SECONDS", "LIVE_PAD_SECONDS",
             "BEAM_SIZE", "COMPUTE_TYPE", "NO_SPEECH_DROP", "LOGPROB_DROP", "MIN_WORD_PROB", "HALLUCINATIONS"}
    for module in (speech, stream, voice_states):
        assert not moved & set(vars(module)), module.__name__
