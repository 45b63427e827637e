"""The batch command (tailor_core.batch): a local Ray run on tiny clips (2 CPUs), resume, error rows, the
in-process engine's equal scores, manifests, interruption and the no-Ray fallback.

The Ray run starts Ray inside the test process (no cluster, no dashboard, usage statistics off); its two actors
load the model themselves. Everything else uses the process-wide predictor on still images (fast)."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path

import pytest
from app_helpers import checkpoint_dir, get_predictor

from tailor_core import batch
from tailor_core.config import LABELS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")  # Ray Data's own settings

FIXTURES = Path(__file__).parent / "fixtures"
CLIP, PHOTO = FIXTURES / "ravdess_happy_kids.mp4", FIXTURES / "single_face.jpg"


def _read(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in rows}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("batch_in")
    shutil.copy(CLIP, d / "clip.mp4")
    shutil.copy(PHOTO, d / "face.jpg")
    (d / "broken.mp4").write_bytes(os.urandom(4000))  # not media at all
    (d / "notes.txt").write_text("not a media file")  # a folder gives its media files only
    return d


@pytest.fixture(scope="module")
def ray_run(inputs, tmp_path_factory) -> tuple[Path, dict]:
    pytest.importorskip("ray.data", reason="the scale extra (requirements-scale.txt) is not installed")
    out = tmp_path_factory.mktemp("batch_out")
    manifest = batch.run([inputs], out, engine="ray", checkpoint=str(checkpoint_dir()), timeline=True,
                         attention=True, csv_too=True, ray_options=batch.RayOptions(cpus=2, workers=2), quiet=True)
    return out, manifest


def test_usage_stats_are_off() -> None:
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"  # set by importing tailor_core.batch
    usage_lib = pytest.importorskip("ray._common.usage.usage_lib")
    assert not usage_lib.usage_stats_enabled()


def test_ray_run_outputs(ray_run) -> None:
    out, manifest = ray_run
    rows = _by_name(_read(out / "results.parquet"))
    assert set(rows) == {"clip.mp4", "face.jpg", "broken.mp4"}
    for name in ("clip.mp4", "face.jpg"):
        r = rows[name]
        assert r["status"] == "ok" and r["error"] == ""
        scores = {k: r[f"score_{k}"] for k in LABELS}
        assert all(0.0 <= v <= 1.0 for v in scores.values())
        thresholds = manifest["checkpoint"]["thresholds"]
        assert r["labels"].split() == [k for k in LABELS if scores[k] >= thresholds[k]]
        assert r["duration"] > 0 and r["t_model"] >= 0 and r["worker"]
    assert rows["clip.mp4"]["present_audio"] and rows["clip.mp4"]["present_visual"]
    assert rows["clip.mp4"]["kind"] == "video" and "audio" in rows["clip.mp4"]["modalities"]
    assert rows["face.jpg"]["modalities"] == "visual"

    broken = rows["broken.mp4"]  # an error row with the one-sentence message, not a failed job
    assert broken["status"] == "error" and broken["error_kind"] == "input"
    assert "broken.mp4" in broken["error"] and "\n" not in broken["error"]
    assert all(math.isnan(broken[f"score_{k}"]) for k in LABELS)

    timeline = _read(out / "timeline.parquet")
    assert {Path(r["path"]).name for r in timeline} == {"clip.mp4", "face.jpg"}
    clip_tl = [r for r in timeline if r["path"] == rows["clip.mp4"]["path"]]
    assert len(clip_tl) % len(LABELS) == 0 and {r["label"] for r in clip_tl} == set(LABELS)
    assert all(r["end"] > r["start"] for r in clip_tl)
    attention = _read(out / "attention.parquet")
    for name in ("clip.mp4", "face.jpg"):
        mine = [r for r in attention if r["path"] == rows[name]["path"]]
        assert len(mine) == len(LABELS) * 4
        for k in LABELS:
            assert sum(r["share"] for r in mine if r["label"] == k) == pytest.approx(1.0, abs=1e-4)
    with open(out / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3

    saved = json.loads((out / "manifest.json").read_text())
    assert saved["status"] == "finished" and saved["engine"] == "ray" and saved["workers"] == 2
    assert saved["cluster_cpus"] == 2 and saved["ray_address"] == "local"
    assert len(saved["checkpoint"]["sha256_model"]) == 64 and set(saved["checkpoint"]["thresholds"]) == set(LABELS)
    assert saved["versions"]["ray"] and saved["started"] < saved["finished"]
    c = saved["counts"]
    assert (c["discovered"], c["to_score"], c["scored_ok"], c["errors"], c["results_rows"]) == (3, 3, 2, 1, 3)
    assert (out / "runs" / f"{saved['run_id']}.json").is_file()
    assert "3 files: 2 scored, 1 errors" in manifest["summary"] and "files/min" in manifest["summary"]


def test_ray_scores_equal_in_process(ray_run, inputs, tmp_path) -> None:
    """The Ray actors' scores are the in-process Predictor's, and the local engine writes the same rows."""
    out, _ = ray_run
    ray_rows = _by_name(_read(out / "results.parquet"))
    predictor = get_predictor()
    for name, kind in (("clip.mp4", "video"), ("face.jpg", "image")):
        pred = predictor.predict(**{kind: str(inputs / name)}).to_dict()
        for k in LABELS:
            # 1e-3: a Ray actor runs Whisper's int8 kernels on its own thread count, which moves scores by up to
            # 2e-4 on some CPUs (an AVX2-only EPYC); a different input or model would move them by far more
            assert ray_rows[name][f"score_{k}"] == pytest.approx(pred["scores"][k], abs=1e-3), (name, k)
        assert ray_rows[name]["labels"].split() == pred["labels"]
    local = tmp_path / "local"
    batch.run([inputs], local, engine="local", predictor=predictor, quiet=True)
    local_rows = _by_name(_read(local / "results.parquet"))
    assert set(local_rows) == set(ray_rows)
    for name, r in local_rows.items():
        assert r["status"] == ray_rows[name]["status"] and r["error"] == ray_rows[name]["error"]
        for k in LABELS:
            a, b = r[f"score_{k}"], ray_rows[name][f"score_{k}"]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-3)  # thread counts, above


def test_resume_scores_nothing_new(ray_run, inputs, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    shutil.copytree(ray_run[0], out)
    again = batch.run([inputs], out, engine="ray", checkpoint=str(checkpoint_dir()), quiet=True,
                      ray_options=batch.RayOptions(cpus=2, workers=2))
    c = again["counts"]
    assert (c["to_score"], c["skipped_already_done"], c["scored_ok"], c["errors"]) == (0, 3, 0, 0)
    assert "workers" not in again  # Ray was not even started: nothing to do
    assert len(_read(out / "results.parquet")) == 3
    assert batch.main([str(inputs), "--out", str(out), "--dry-run"]) == 0
    assert "3 files found: 0 to score, 3 already done" in capsys.readouterr().out

    # A new file and a changed one are scored; the rest are not. (Local engine: resuming is engine-independent.)
    shutil.copy(PHOTO, inputs / "face2.jpg")
    os.utime(inputs / "face.jpg", ns=(1_000_000_000, 1_000_000_000))
    third = batch.run([inputs], out, engine="local", predictor=get_predictor(), quiet=True)
    c = third["counts"]
    assert (c["to_score"], c["scored_ok"], c["results_rows"]) == (2, 2, 4)
    rows = _by_name(_read(out / "results.parquet"))
    assert rows["face.jpg"]["mtime_ns"] == 1_000_000_000 and rows["face2.jpg"]["status"] == "ok"
    assert len(list((out / "parts" / "files").glob("*.parquet"))) == 1  # compacted
    (inputs / "face2.jpg").unlink()


def test_manifest_glob_and_metadata(tmp_path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(PHOTO, media / "a.jpg")
    shutil.copy(PHOTO, media / "b.jpg")
    with open(tmp_path / "list.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "speaker", "labels"])
        w.writerow(["s1", "media/a.jpg", "ann", "x"])
        w.writerow(["s2", "media/missing.jpg", "bob", "y"])
    items = batch.discover([tmp_path / "list.csv"])
    assert [i["id"] for i in items] == ["s1", "s2"] and items[0]["path"] == str(media / "a.jpg")
    assert items[0]["meta"] == {"speaker": "ann", "labels": "x"}
    assert [Path(i["path"]).name for i in batch.discover([str(media / "*.jpg")])] == ["a.jpg", "b.jpg"]

    out = tmp_path / "out"
    m = batch.run([tmp_path / "list.csv"], out, engine="local", predictor=get_predictor(), quiet=True)
    assert m["counts"]["scored_ok"] == 1 and m["counts"]["errors"] == 1
    rows = {r["id"]: r for r in _read(out / "results.parquet")}
    assert rows["s1"]["speaker"] == "ann" and rows["s1"]["meta_labels"] == "x"  # 'labels' is ours
    assert rows["s2"]["status"] == "error" and "no such file" in rows["s2"]["error"]


def test_interrupted_run_keeps_finished_results(tmp_path, monkeypatch) -> None:
    media = tmp_path / "media"
    media.mkdir()
    for n in "abc":
        shutil.copy(PHOTO, media / f"{n}.jpg")
    real, calls = batch.Scorer.score, []

    def score(self, item):
        calls.append(item["path"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, item)

    monkeypatch.setattr(batch.Scorer, "score", score)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        batch.run([media], out, engine="local", predictor=get_predictor(), quiet=True, flush_every=100)
    assert [Path(r["path"]).name for r in _read(out / "results.parquet")] == ["a.jpg"]
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(batch.Scorer, "score", real)
    m = batch.run([media], out, engine="local", predictor=get_predictor(), quiet=True)
    assert (m["counts"]["skipped_already_done"], m["counts"]["scored_ok"]) == (1, 2)


def test_without_ray_falls_back_in_process(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(batch, "ray_available", lambda: False)
    said: list[str] = []
    m = batch.run([PHOTO], tmp_path / "out", predictor=get_predictor(), quiet=True, log=said.append)
    assert m["engine"] == "local" and m["counts"]["scored_ok"] == 1
    assert any("ray is not installed" in s for s in said)
    with pytest.raises(RuntimeError, match="scale"):
        batch.run([PHOTO], tmp_path / "out2", engine="ray", quiet=True)
    assert "Without Ray installed" in batch.build_parser().format_help()
