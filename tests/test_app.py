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
    summary, scores, timeline, transcript, modality, heatmap, result_file = out
    assert "Predicted" in summary
    for fig in (scores, timeline, modality, heatmap):
        assert fig and "plot" in fig  # gr.Plot payload (a Plotly JSON string)
        json.loads(fig["plot"])
    assert transcript == "what a lovely surprise"
    data = json.loads(Path(result_file).read_text())
    _check_result(data)
    assert data["present"]["visual"] and data["present"]["text"]


def test_nothing_given_is_a_clear_error(client):
    with pytest.raises(Exception, match="Give a clip"):
        client.predict(None, None, None, "  ", api_name="/analyse")


def test_too_long_clip_is_refused(client, monkeypatch):
    import app

    monkeypatch.setattr(app, "MAX_SECONDS", 2.0)
    with pytest.raises(Exception, match="up to 2 s"):
        client.predict(handle_file(str(HAPPY)), api_name="/predict_clip")


def test_uploads_are_deleted_after_the_request(client, tmp_path):
    import shutil

    import app

    mine = tmp_path / "my_private_clip.mp4"
    shutil.copy(SAD, mine)
    client.predict(handle_file(str(mine)), api_name="/predict_clip")
    cache = Path(app.gr.utils.get_upload_folder())
    assert not list(cache.rglob("my_private_clip.mp4")), "the upload must not be kept"
