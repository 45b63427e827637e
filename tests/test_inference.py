"""Predictor, Prediction, plots and the command line (tailor_core.cli) on the shipped checkpoint and real media."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from app_helpers import FACE, HAPPY, SAD, SILENT, checkpoint_dir, get_predictor, make_no_face_clip

from tailor_core.config import LABELS
from tailor_core.features import FeatureError
from tailor_core.live import LiveSession
from tailor_core.scoring import SMOOTHING_SECONDS


@pytest.fixture(scope="module")
def predictor():
    return get_predictor()


def _check(pred, present: dict[str, bool] | None = None) -> None:
    assert list(pred.scores) == list(LABELS)
    for v in pred.scores.values():
        assert math.isfinite(v) and 0.0 <= v <= 1.0
    assert set(pred.labels) <= set(LABELS)
    assert all((pred.scores[k] >= pred.thresholds[k]) == (k in pred.labels) for k in LABELS)
    for label, share in pred.modality_attention.items():
        assert set(share) == {"text", "audio", "visual", "common"}
        assert sum(share.values()) == pytest.approx(1.0, abs=1e-5), label
        assert all(v >= 0 for v in share.values())
    n = len(pred.step_times)
    assert n > 0 and len(pred.face_steps) == n
    for m in ("text", "audio", "visual"):
        rows = pred.attention_maps[m]
        assert len(rows) == len(LABELS) and all(len(r) == n for r in rows)
        if not pred.present[m]:
            assert np.allclose(rows, 0.0), f"absent {m} must get no attention"
    assert pred.timeline, "a timeline point at least"
    for p in pred.timeline:
        assert p.start < p.end
        assert all(0.0 <= v <= 1.0 for v in p.scores.values())
    if present is not None:
        assert pred.present == present
    json.dumps(pred.to_dict(), allow_nan=False)


def test_checkpoint_is_the_shipped_one():
    from tailor_core.predictor import default_checkpoint

    if checkpoint_dir() != default_checkpoint():
        pytest.skip("checkpoints/tailor-demo not shipped yet: the other tests ran on a random debug model")


def test_clip_with_speech_and_face(predictor):
    pred = predictor.predict(video=str(HAPPY))
    _check(pred, {"text": True, "audio": True, "visual": True})
    assert "door" in pred.transcript.lower()
    assert sum(pred.face_steps) >= len(pred.face_steps) - 1
    assert pred.words and all(0 <= w.step < len(pred.step_times) for w in pred.words)
    assert 2.5 < pred.duration < 4.5
    assert {"video", "model", "readouts", "total"} <= set(pred.timings)
    # each encoder alone: all three present; the happy face reads happiness (FER+ probabilities summing to 1)
    assert set(pred.readouts) == {"visual", "audio", "text"}
    face, voice = pred.readouts["visual"], pred.readouts["audio"]
    assert max(face, key=face.get) == "happy" and sum(face.values()) == pytest.approx(1.0, abs=1e-3)
    assert sum(voice.values()) == pytest.approx(1.0, abs=1e-3) and "neutral" in pred.readouts["text"]


def test_silent_clip_has_a_face_and_no_words(predictor):
    pred = predictor.predict(video=str(SILENT))
    _check(pred)
    assert pred.present["visual"] and not pred.present["text"]
    assert pred.transcript == ""
    voice = pred.readouts["audio"]  # a silent track is read as no voice, not as a quiet (sad) one
    assert max(voice, key=voice.get) == "no voice" and "text" not in pred.readouts


def test_clip_without_face(predictor, tmp_path):
    pred = predictor.predict(video=str(make_no_face_clip(tmp_path / "no_face.mp4")))
    _check(pred)
    assert not pred.present["visual"] and pred.present["audio"]
    assert not any(pred.face_steps)


def test_photo(predictor):
    pred = predictor.predict(image=str(FACE))
    _check(pred, {"text": False, "audio": False, "visual": True})
    assert list(pred.readouts) == ["visual"]  # only what was given is read out


def test_photo_as_array(predictor):
    from PIL import Image

    pred = predictor.predict(image=np.asarray(Image.open(FACE).convert("RGB")))
    _check(pred, {"text": False, "audio": False, "visual": True})


def test_sentence(predictor):
    pred = predictor.predict(text="I can't believe we won, this is the best day of my life!")
    _check(pred, {"text": True, "audio": False, "visual": False})
    assert pred.transcript.startswith("I can't believe")
    words = pred.readouts["text"]
    assert list(pred.readouts) == ["text"] and words["happy"] > 0.5 and words["neutral"] < 0.1  # one sigmoid each


def test_photo_and_sentence_are_fused(predictor):
    pred = predictor.predict(image=str(FACE), text="this is terrible news")
    _check(pred, {"text": True, "audio": False, "visual": True})
    assert pred.modality_attention["happy"]["visual"] > 0 and pred.modality_attention["happy"]["text"] > 0


def test_voice_recording_path_and_array(predictor, tmp_path):
    import av

    with av.open(str(SAD)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])
                              for r in resampler.resample(f)])
    pred = predictor.predict(audio=pcm, sample_rate=48000)
    _check(pred, {"text": True, "audio": True, "visual": False})
    wav = tmp_path / "voice.wav"
    import soundfile as sf

    sf.write(wav, pcm, 48000)
    pred2 = predictor.predict(audio=str(wav))
    _check(pred2, {"text": True, "audio": True, "visual": False})
    assert pred2.scores == pytest.approx(pred.scores, abs=0.05)


def test_typed_text_spreads_over_the_clip(predictor):
    pred = predictor.predict(video=str(SILENT), text="what a wonderful surprise")
    _check(pred, {"text": True, "audio": True, "visual": True})
    assert pred.transcript == "what a wonderful surprise"
    assert max(w.step for w in pred.words) > len(pred.step_times) // 2


def test_long_input_is_scored_in_windows(predictor):
    from tailor_core.features import FeatureBundle

    one = predictor.extractor.clip(str(SILENT))
    long = FeatureBundle.merge(one.with_length(predictor.max_window_steps * 2 + 5))
    # fill the padding with copies of the real steps so every window has data
    n = len(one)
    for m in ("audio", "visual"):
        arr, mask = getattr(long, m), getattr(long, f"{m}_mask")
        for i in range(n, len(long)):
            arr[i], mask[i] = getattr(one, m)[i % n], getattr(one, f"{m}_mask")[i % n]
    pred = predictor.predict_bundle(long)
    _check(pred)
    assert len(pred.step_times) == len(long)
    assert len(pred.timeline) > 3


def test_summary_is_the_weighted_mean_of_the_timeline(predictor):
    """The summary never contradicts the timeline: it is the mean of the timeline's raw windows, weighted by their
    valid steps (the sad example's summary read nothing while its timeline read sad, when it was one pass)."""
    from tailor_core import scoring

    bundle = predictor.extractor.clip(str(SAD))
    pred = predictor.predict_bundle(bundle)
    step = bundle.step_seconds
    spans = [(round((p.start - bundle.times[0]) / step), round((p.end - bundle.times[0]) / step))
             for p in pred.timeline]
    assert spans == scoring.timeline_spans(bundle.valid, predictor.timeline_steps, predictor.timeline_hop)
    weights = scoring.window_weights(bundle.valid, spans)
    for label in pred.scores:
        mean = sum(w * p.raw[label] for w, p in zip(weights, pred.timeline, strict=True))
        assert pred.scores[label] == pytest.approx(mean, abs=1e-9)
    assert predictor.predict_bundle(bundle, timeline=False).scores == pytest.approx(pred.scores)


@pytest.mark.parametrize("kwargs", [
    {},
    {"text": "   "},
    {"video": ""},
    {"video": None, "audio": None, "image": None, "text": None},
])
def test_nothing_given(predictor, kwargs):
    with pytest.raises(FeatureError, match="Nothing to analyse"):
        predictor.predict(**kwargs)


def test_corrupt_and_missing_files(predictor, tmp_path):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(30_000))
    with pytest.raises(FeatureError):
        predictor.predict(video=str(bad))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(FeatureError):
        predictor.predict(video=str(empty))
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(FeatureError):
        predictor.predict(video=str(text))
    with pytest.raises(FeatureError):
        predictor.predict(video=str(tmp_path / "missing.mp4"))
    with pytest.raises(FeatureError):
        predictor.predict(image=str(bad))


def test_photo_without_face_is_a_clear_error(predictor):
    grey = np.full((240, 320, 3), 128, np.uint8)
    with pytest.raises(FeatureError, match="No face, voice or words"):
        predictor.predict(image=grey)


def test_empty_audio_array(predictor):
    with pytest.raises(FeatureError):
        predictor.predict(audio=np.zeros(0, np.int16), sample_rate=16000)


def test_live_session(predictor, monkeypatch):
    import av

    live = LiveSession(predictor, window_seconds=4.0)
    assert live.predict() is None  # nothing yet
    with av.open(str(HAPPY)) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if i % 3 == 0:
                live.add_frame(frame.to_ndarray(format="rgb24"), t=frame.time)
    with av.open(str(HAPPY)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for f in c.decode(c.streams.audio[0]):
            for r in resampler.resample(f):
                live.add_audio(r.to_ndarray().reshape(-1), 48000, t=f.time)
    scored = []  # the bundle the update scored (speech-to-text runs in a thread and may add words later)
    score = predictor.predict_bundle
    monkeypatch.setattr(predictor, "predict_bundle", lambda b, **kw: scored.append(b) or score(b, **kw))
    pred = live.predict()
    monkeypatch.undo()
    assert pred is not None
    assert pred.present["visual"] and pred.present["audio"]
    assert all(0.0 <= v <= 1.0 for v in pred.scores.values())
    assert len(live.history) == 1 and live.frame_shape is not None
    assert {"visual", "audio"} <= set(pred.readouts)  # each encoder alone, of the window
    assert max(pred.readouts["visual"], key=pred.readouts["visual"].get) == "happy"
    # the first update starts from "no emotion" and moves by the seconds of input behind it (scoring.ema)
    (bundle,) = scored
    raw = predictor.predict_bundle(bundle, timeline=False).scores
    w = 1 - np.exp(-len(bundle) * bundle.step_seconds / SMOOTHING_SECONDS)
    assert pred.scores == pytest.approx(raw, abs=1e-6)  # the window's own scores, and beside them the smoothed
    assert pred.smoothed == pytest.approx({k: w * v for k, v in raw.items()}, abs=1e-4)
    assert pred.shown_scores is pred.smoothed
    assert pred.labels == [k for k in raw if pred.smoothed[k] >= pred.thresholds[k]]
    assert "smoothed" in pred.to_dict() and "smoothed" not in predictor.predict_bundle(bundle).to_dict()
    with live._framing:  # a frame still being analysed: the next one is dropped, not queued
        assert live.add_frame(np.zeros((48, 64, 3), np.uint8), block=False) is False
    assert live.dropped_frames == 1
    live.reset()
    assert live.history == [] and live.frames == 0 and live.dropped_frames == 0


def test_plots_build(predictor):
    from tailor_core import plots

    pred = predictor.predict(video=str(HAPPY))
    for fig in (plots.scores_figure(pred), plots.timeline_figure(pred), plots.modality_figure(pred),
                plots.attention_heatmap(pred)):
        assert fig.data, "figure has traces"
        fig.to_json()
    heat = plots.attention_heatmap(pred)
    word_axes = [heat.layout[k].ticktext for k in heat.layout if k.startswith("xaxis") and heat.layout[k].ticktext]
    assert any("door" in str(t) for ticks in word_axes for t in ticks), "words on the text axis"
    assert all(h.zmax == plots.ATTENTION_ZMAX for h in heat.data), "one fixed colour scale"
    bars = plots.scores_figure(pred)
    assert [b.marker.color for b in bars.data[:1]][0] == tuple(plots.LABEL_COLORS[k] for k in LABELS) or \
        list(bars.data[0].marker.color) == [plots.LABEL_COLORS[k] for k in LABELS]
    assert plots.empty_figure().layout.annotations


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture()
def cli(monkeypatch, predictor):
    """The CLI's main(), with load_model returning the already loaded predictor."""
    import tailor_core.predictor as predictor_module
    from tailor_core import cli

    monkeypatch.setattr(predictor_module, "load_model", lambda *a, **k: predictor)
    return cli.main


def test_cli_single_json(cli, capsys):
    assert cli(["--text", "I am furious about this", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["scores"]) == set(LABELS)


def test_cli_single_text_output(cli, capsys):
    assert cli(["--image", str(FACE)]) == 0
    out = capsys.readouterr().out
    assert "labels:" in out and "happy" in out and "attention share" in out
    assert "each encoder alone: face: happy" in out


def test_cli_batch_jsonl_and_csv(cli, capsys, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(HAPPY, folder / "a.mp4")
    shutil.copy(FACE, folder / "b.jpg")
    (folder / "broken.mp4").write_bytes(b"\x00\x01garbage" * 100)
    (folder / "readme.txt").write_text("ignored")
    assert cli([str(folder)]) == 1  # one failure → exit 1, the others still predicted
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [Path(x["file"]).name for x in lines] == ["a.mp4", "b.jpg", "broken.mp4"]
    assert "scores" in lines[0] and "scores" in lines[1] and "error" in lines[2]
    out = tmp_path / "out.csv"
    assert cli([str(folder / "a.mp4"), str(folder / "b.jpg"), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and all(0 <= float(r["happy"]) <= 1 for r in rows) and rows[0]["error"] == ""


def test_cli_one_voice_pass_reaches_load_model(monkeypatch, predictor, capsys):
    import tailor_core.predictor as predictor_module
    from tailor_core import cli

    asked = []
    monkeypatch.setattr(predictor_module, "load_model", lambda *a, **k: asked.append(k) or predictor)
    assert cli.main(["--text", "fine", "--one-voice-pass"]) == 0 and cli.main(["--text", "fine"]) == 0
    assert [k["voice_pieces"] for k in asked] == [False, True]


def test_cli_usage_errors(cli, capsys):
    assert cli([]) == 2
    assert cli(["--text", "hi", str(FACE)]) == 2


def test_cli_former_module_name_still_runs():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tailor_core.predict", "--help"], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent).stdout
    assert "python -m tailor_core.cli" in out


def test_face_guard_rule():
    """Where the face alone reads a label under its threshold, the label is at most the higher part reading; a label
    the face shows, or a window without both a face and something else, keeps the whole reading."""
    from tailor_core.scoring import face_guard

    thr = np.array([0.5, 0.5, 0.5, 0.5])
    fused = np.array([[0.7, 0.7, 0.7, 0.45], [0.7, 0.2, 0.7, 0.45]])
    no_face = np.array([[0.3, 0.6, 0.2, 0.3], [0.3, 0.1, 0.4, 0.3]])
    face = np.array([[0.4, 0.1, 0.6, 0.1], [0.2, 0.1, 0.3, 0.1]])
    scores, held = face_guard(fused, no_face, face, thr, np.array([True, False]))
    # label 0: neither part shows it -> held back; 1: the voice shows it -> capped at its reading, still shown;
    # 2: the face shows it -> as fused; 3: raised by a face that does not show it -> capped, no threshold crossed
    assert scores.tolist() == [[0.4, 0.6, 0.7, 0.3], [0.7, 0.2, 0.7, 0.45]]
    assert held.tolist() == [[True, False, False, False], [False, False, False, False]]


def test_face_guard_reads_each_window_three_ways(predictor):
    """The guarded scores of a clip are exactly ``face_guard`` of three separate readings of the same windows: the
    whole window, the window with its face masked, the face alone (the batching mixes nothing up); the summary
    keeps the rule against the parts' own summaries."""
    from dataclasses import replace

    from tailor_core import scoring

    bundle = predictor.extractor.clip(str(HAPPY))
    assert bundle.visual_mask.any() and bundle.audio_mask.any()
    spans = scoring.timeline_spans(bundle.valid, predictor.timeline_steps, predictor.timeline_hop)
    guarded, _, held, parts = predictor._score_windows(bundle, spans)
    predictor.face_guard = False
    try:
        whole, _, none_held, no_parts = predictor._score_windows(bundle, spans)
        no_face, _, _, _ = predictor._score_windows(replace(bundle, visual_mask=np.zeros_like(bundle.visual_mask)),
                                                    spans)
        face = replace(bundle, text_mask=np.zeros_like(bundle.text_mask), audio_mask=np.zeros_like(bundle.audio_mask))
        face_only, _, _, _ = predictor._score_windows(face, spans)
    finally:
        predictor.face_guard = True
    assert not none_held.any() and no_parts is None
    thr = np.array([predictor.thresholds[k] for k in predictor.labels])
    has_face = np.array([bundle.visual_mask[a:b].any() for a, b in spans])
    has_rest = np.array([(bundle.audio_mask[a:b] | bundle.text_mask[a:b]).any() for a, b in spans])
    expected, expected_held = scoring.face_guard(whole, no_face, face_only, thr, has_face & has_rest)
    np.testing.assert_allclose(guarded, expected, atol=1e-5)
    assert (held == expected_held).all()
    want = scoring.part_readings(whole, no_face, face_only, has_face, has_rest)
    np.testing.assert_allclose(parts[0], want[0], atol=1e-5)
    np.testing.assert_allclose(parts[1], want[1], atol=1e-5)
    weights = scoring.window_weights(bundle.valid, spans)
    summary, _ = scoring.face_guard(weights @ guarded, weights @ want[0], weights @ want[1], thr, True)
    pred = predictor.predict_bundle(bundle)
    np.testing.assert_allclose([pred.scores[k] for k in predictor.labels], summary, atol=1e-5)
    # every label shown is shown by one part too
    assert not ((summary >= thr) & (weights @ want[0] < thr) & (weights @ want[1] < thr)).any()


def test_face_guard_holds_summary_labels_the_parts_do_not_reach():
    """A label can cross its threshold on average while every window keeps the rule (the voice shows it in one
    window, the face in another): the summary rule catches it."""
    from tailor_core.scoring import face_guard, part_readings

    thr = np.array([0.5])
    fused = np.array([[0.9], [0.9], [0.1], [0.1]])
    without = np.array([[0.9], [0.1], [0.1], [0.1]])
    face = np.array([[0.1], [0.9], [0.1], [0.1]])
    scores, held = face_guard(fused, without, face, thr, np.ones(4, bool))
    assert not held.any() and scores.tolist() == fused.tolist()
    w = np.full(4, 0.25)
    parts = part_readings(scores, without, face, np.ones(4, bool), np.ones(4, bool))
    summary, summary_held = face_guard(w @ scores, w @ parts[0], w @ parts[1], thr, True)
    assert w @ scores >= 0.5 and summary_held.tolist() == [True] and summary[0] == pytest.approx(0.3)


def test_training_reads_the_composed_test_as_the_app_does(predictor, monkeypatch):
    """``training.evaluate.guarded_summary_scores`` (how the held-out composed test is scored as the app gives it)
    is exactly the predictor's summary after its face guard, for an example padded inside a longer one (cut to its
    content), with and without its face, and at thresholds where the guard does and does not change the summary."""
    from dataclasses import replace

    import torch

    from training.data import Split
    from training.evaluate import guarded_summary_scores, summary_scores

    bundle = predictor.extractor.clip(str(HAPPY))
    rng = np.random.default_rng(0)  # example 2: features no corpus has, so the parts disagree window by window
    noise = replace(bundle, **{m: rng.normal(0, 1, getattr(bundle, m).shape) for m in ("text", "audio", "visual")})
    examples = (bundle, replace(bundle, visual_mask=np.zeros_like(bundle.visual_mask)), noise)
    n, pad = len(bundle), 3
    arrays = {}
    for m in ("text", "audio", "visual"):
        x = np.zeros((len(examples), n + 2 * pad, getattr(bundle, m).shape[1]), np.float32)
        mask = np.zeros((len(examples), n + 2 * pad), bool)
        for i, b in enumerate(examples):
            x[i, pad: pad + n], mask[i, pad: pad + n] = getattr(b, m), getattr(b, f"{m}_mask")
        arrays[m], arrays[f"{m}_mask"] = torch.from_numpy(x), torch.from_numpy(mask)
    split = Split(*(arrays[k] for k in ("text", "audio", "visual", "text_mask", "audio_mask", "visual_mask")),
                  torch.zeros(len(examples), 6))
    raw = summary_scores(predictor.model, split)
    changed = np.zeros(len(examples), bool)
    for thr in (predictor._thresholds, np.full(6, 0.1), np.full(6, 0.3), np.full(6, 0.6)):
        monkeypatch.setattr(predictor, "_thresholds", np.asarray(thr, float))
        got, held = guarded_summary_scores(predictor.model, split, np.asarray(thr, float))
        for i, b in enumerate(examples):
            pred = predictor.predict_bundle(b, timeline=False)
            np.testing.assert_allclose(got[i], [pred.scores[k] for k in predictor.labels], atol=1e-5)
        np.testing.assert_allclose(got[1], raw[1], atol=1e-6)  # no face, nothing to guard
        assert not held[1].any() and (held == ((raw >= thr) & (got < thr))).all()
        changed |= np.abs(got - raw).max(1) > 1e-4
    assert changed[0] and changed[2], "the guard never acted: the test would not see a mistake in it"
