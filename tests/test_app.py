"""The Gradio app through gradio_client, served in this process on a free port (the model loads once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_helpers import FACE, HAPPY, SAD, SILENT, get_server, make_no_face_clip

from tailor_core.config import LABELS

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Client:
    return Client(get_server(), verbose=False)


def _check_result(result: dict) -> None:
    assert set(result["scores"]) == set(LABELS)
    assert all(0.0 <= v <= 1.0 for v in result["scores"].values())
    for share in result["modality_attention"].values():
        assert sum(share.values()) == pytest.approx(1.0, abs=1e-4)


def test_api_lists_predict_clip(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert "/predict_clip" in api["named_endpoints"]


def test_upload_clip(client):
    result = client.predict(handle_file(str(HAPPY)), api_name="/predict_clip")
    _check_result(result)
    assert result["present"] == {"text": True, "audio": True, "visual": True}
    assert "door" in result["transcript"].lower()
    assert result["timeline"]


def test_corrupt_file_then_app_still_answers(client, tmp_path):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 80)
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(bad)), api_name="/predict_clip")
    message = str(err.value)
    assert "corrupt.mp4" in message and ("not a readable" in message or "corrupt" in message.lower()), message
    assert "Traceback" not in message
    # the next request is served normally
    _check_result(client.predict(handle_file(str(SAD)), api_name="/predict_clip"))


def test_clip_without_face(client, tmp_path):
    result = client.predict(handle_file(str(make_no_face_clip(tmp_path / "no_face.mp4"))),
                            api_name="/predict_clip")
    _check_result(result)
    assert result["present"]["visual"] is False
    assert not any(result["face_steps"])


def test_silent_clip(client):
    result = client.predict(handle_file(str(SILENT)), api_name="/predict_clip")
    _check_result(result)
    assert result["transcript"] == ""
    assert result["present"]["visual"] is True and result["present"]["text"] is False


def test_analyse_photo_and_text_gives_charts_and_json(client):
    out = client.predict(None, None, handle_file(str(FACE)), "what a lovely surprise", api_name="/analyse")
    summary, scores, timeline, transcript, modality, heatmap, data = out
    assert "Predicted" in summary
    for fig in (scores, timeline, modality, heatmap):
        assert fig and "plot" in fig  # gr.Plot payload (a Plotly JSON string)
        json.loads(fig["plot"])
    assert transcript == "what a lovely surprise"
    _check_result(data)
    assert data["present"]["visual"] and data["present"]["text"]


def test_nothing_given_is_a_clear_error(client):
    with pytest.raises(Exception, match="Give a clip"):
        client.predict(None, None, None, "  ", api_name="/analyse")


def test_too_long_clip_is_cut_at_the_cap(client, monkeypatch):
    import dataclasses

    from app_helpers import get_predictor

    fx = get_predictor().extractor
    monkeypatch.setattr(fx, "limits", dataclasses.replace(fx.limits, max_seconds=2.0))
    result = client.predict(handle_file(str(HAPPY)), api_name="/predict_clip")
    _check_result(result)
    assert result["truncated"] and result["duration"] <= 2.0
    assert result["notes"] == ["Only the first 2 s were analysed."]


def test_uploads_are_deleted_after_the_request(client, tmp_path):
    import shutil

    import app

    mine = tmp_path / "my_private_clip.mp4"
    shutil.copy(make_no_face_clip(tmp_path / "clip.mp4"), mine)
    client.predict(handle_file(str(mine)), api_name="/predict_clip")
    cache = Path(app.gr.utils.get_upload_folder())
    assert not list(cache.rglob("my_private_clip.mp4")), "the upload must not be kept"


# ------------------------------------------------------------------------------------------------ handlers
# The handlers are module-level functions: called here in-process, without a server.


class _Request:
    session_hash = "test-session"


def test_handlers_without_a_server(tmp_path):
    import shutil

    from app_helpers import get_predictor

    import app

    app.set_predictor(get_predictor())
    mine = tmp_path / "face.jpg"  # named like an example, but not an upload: never deleted by the handler
    shutil.copy(FACE, mine)
    summary, *_, data = app.analyse(None, None, str(mine), "what a lovely day")
    assert "Predicted" in summary and data["present"]["visual"] and mine.exists()
    assert "Each encoder alone: face: happy" in summary and "words: happy" in summary  # what each read first
    assert set(data["readouts"]) == {"visual", "text"}
    with pytest.raises(app.gr.Error, match="Give a clip"):
        app.analyse(None, None, None, "")


def test_uploads_are_deleted_by_ownership_not_name(tmp_path):
    import shutil

    import app

    root = Path(app.gr.utils.get_upload_folder())
    folder = root / "0123456789abcdef-test"
    folder.mkdir(parents=True, exist_ok=True)
    upload = folder / "ravdess_happy.mp4"  # the name of an example, someone else's bytes: deleted
    shutil.copy(make_no_face_clip(tmp_path / "private.mp4"), upload)
    app.predict_clip(str(upload))
    assert not upload.exists() and not folder.exists()
    copy = root / "example-copy" / "anything.mp4"  # a shipped example's bytes (public): kept for other visitors
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(HAPPY, copy)
    app.predict_clip(str(copy))
    assert copy.exists()
    shutil.rmtree(copy.parent)


def test_live_handlers_in_process():
    import av
    import numpy as np
    from app_helpers import get_predictor

    import app

    app.set_predictor(get_predictor())
    request = _Request()
    outputs = None
    with av.open(str(HAPPY)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])
                              for r in resampler.resample(f)])
    live = app.live_session(request)
    with av.open(str(HAPPY)) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if i % 15 == 0:
                live.add_frame(frame.to_ndarray(format="rgb24"), t=frame.time)
    outputs = app.on_audio((48000, pcm), request)
    headline, _bars, status, _transcript, _timeline = outputs
    assert "labels:" in status and "last 6 s" in headline
    assert app._SESSIONS[request.session_hash] is live
    app.on_reset(request)
    assert request.session_hash not in app._SESSIONS


def test_analyse_ui_keeps_an_error_on_the_page_and_drops_the_bad_file(tmp_path):
    """The Clip tab's handler: first the old result goes, then the new one; a failure becomes a message in the
    summary (no exception, so no "Error" on every panel) and the file that failed is taken out of its input."""
    from app_helpers import get_predictor

    import app

    app.set_predictor(get_predictor())
    bad = tmp_path / "holiday.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 80)
    first, last = list(app.analyse_ui(str(bad), None, None, "hello"))
    assert "Analysing" in first[0] and first[1] is None
    summary, *charts, data, video, audio, image = last
    assert "holiday.mp4" in summary and "tailor-error" in summary and data is None
    assert video is None and audio is not None  # the bad file is cleared, the other inputs are left alone
    empty = list(app.analyse_ui(None, None, None, " "))
    assert len(empty) == 1 and empty[0][0] == app.RESULTS_PLACEHOLDER
    *_, ok = app.analyse_ui(None, None, None, "what a lovely day")
    assert "Predicted" in ok[0] and ok[6]["present"]["text"]


def test_headline_and_about_read_for_a_visitor():
    from dataclasses import replace

    from app_helpers import get_predictor

    import app
    from tailor_core import plots
    from tailor_core.scoring import Prediction

    th = {"happy": 0.35, "sad": 0.3, "fear": 0.6, "surprise": 0.65}
    pred = Prediction(scores={"happy": 0.1, "sad": 0.2, "fear": 0.9, "surprise": 0.7}, labels=["fear", "surprise"],
                      thresholds=th)
    assert plots.headline(pred) == "mostly fear, some surprise"
    assert plots.headline(replace(pred, labels=[])) == "no clear emotion"
    about = app.about_markdown(get_predictor())
    assert "license:" not in about and "OMP_NUM_THREADS" not in about and "../shared" not in about
    assert "```" not in about and "make decisions about people" not in about  # the warning is shown once, above
