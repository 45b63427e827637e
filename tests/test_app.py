"""The Gradio app through gradio_client, served in this process on a free port (the model loads once)."""

from __future__ import annotations

import json
import time
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
    assert "no time axis" in timeline["plot"]  # a photo and a sentence have no timeline
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


def test_uploads_are_not_kept_after_the_request(client, tmp_path):
    """An API upload is deleted by the next sweep once the request is answered (after the grace that covers a
    request still waiting in the queue)."""
    import shutil
    import time

    import app

    mine = tmp_path / "my_private_clip.mp4"
    shutil.copy(make_no_face_clip(tmp_path / "clip.mp4"), mine)
    client.predict(handle_file(str(mine)), api_name="/predict_clip")
    cache = Path(app.gr.utils.get_upload_folder())
    assert list(cache.rglob("my_private_clip.mp4")), "kept until the grace has passed"
    app.uploads().sweep(now=time.time() + app.uploads().grace + 1)
    assert not list(cache.rglob("my_private_clip.mp4")), "the upload must not be kept"


def test_identical_uploads_at_once_all_succeed(client, tmp_path):
    """Gradio stores uploads by their bytes: four clients sending the same file share one path. Every one of
    them gets its result (before, the first to finish deleted the file under the others)."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    same = tmp_path / "same_clip.mp4"
    shutil.copy(make_no_face_clip(tmp_path / "clip.mp4", seconds=2.0), same)

    def one(_: int) -> dict:
        return Client(get_server(), verbose=False).predict(handle_file(str(same)), api_name="/predict_clip")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    for result in results:
        _check_result(result)


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


def _upload(root: Path, name: str, src: Path, folder: str = "0123456789abcdef-test") -> Path:
    import shutil

    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, path)
    return path


def test_a_file_on_the_page_stays_analysable(tmp_path):
    """A photo on the page: analysed, then again with text typed beside it (Enter), then again (Analyse), and
    the same bytes on a second page. It is deleted only once no page shows it: replaced or cleared, or the page
    closed, then swept."""
    import time

    from app_helpers import get_predictor

    import app

    app.set_predictor(get_predictor())
    store = app.uploads()
    later = time.time() + store.grace + 1
    photo = _upload(store.root, "holiday.jpg", FACE, "photo-on-page-test")
    a, b = _Request(), _Request()
    a.session_hash, b.session_hash = "page-a", "page-b"
    for text in ("", "what a lovely day", "what a lovely day"):
        *_, last = app.analyse_ui(None, None, str(photo), text, request=a)
        assert "Predicted" in last[0], last[0]
    *_, last = app.analyse_ui(None, None, str(photo), "", request=b)  # same bytes, another visitor
    assert "Predicted" in last[0]
    store.sweep(now=later)
    assert photo.exists(), "a file on a page was deleted"
    app.forget_page(a)  # page a closed; page b still shows it
    store.sweep(now=later)
    assert photo.exists(), "a file another page shows was deleted"
    *_, last = app.analyse_ui(None, None, None, "only words now", request=b)  # page b clears the photo
    assert "Predicted" in last[0]
    store.sweep(now=later)
    assert not photo.exists() and not photo.parent.exists(), "a file no page shows was kept"


def test_an_upload_waiting_in_the_queue_is_not_swept():
    """An upload no request has handled yet (its request waits in the server's queue behind others) outlives the
    short grace of handled uploads; once analysed and no longer shown it goes with the next sweep, and one whose
    request never comes goes after the longer grace."""
    import time

    import app

    store = app.uploads()
    queued = _upload(store.root, "queued.mp4", HAPPY, "queued-test")
    abandoned = _upload(store.root, "abandoned.mp4", HAPPY, "abandoned-test")
    store.sweep(now=time.time() + store.grace + 1)
    assert queued.exists() and abandoned.exists(), "an upload still waiting for its request was deleted"
    assert "happy" in app.predict_clip(str(queued))["labels"]
    store.sweep(now=time.time() + store.grace + 1)
    assert not queued.exists(), "a handled upload nobody shows was kept"
    assert abandoned.exists()
    store.sweep(now=time.time() + store.unclaimed_grace + 1)
    assert not abandoned.exists(), "an upload no request ever came for was kept"


def test_uploads_are_deleted_by_ownership_not_name(tmp_path):
    """The example files' own copies are kept (every page offers them); an upload named like an example but with
    other bytes is deleted, and so is one with an example's bytes under the visitor's own name."""
    import time

    import app

    store = app.uploads()
    later = time.time() + store.grace + 1
    other_bytes = _upload(store.root, "ravdess_happy.mp4", make_no_face_clip(tmp_path / "private.mp4"), "x1-test")
    own_name = _upload(store.root, "my_birthday.mp4", HAPPY, "x2-test")
    app.predict_clip(str(other_bytes))
    app.predict_clip(str(own_name))
    deleted = store.sweep(now=later)
    assert not other_bytes.exists() and not own_name.exists(), deleted
    example_copy = _upload(store.root, "ravdess_happy.mp4", HAPPY, "x3-test")  # as Gradio copies an example
    store.sweep(now=later)
    assert example_copy.exists()
    import shutil

    shutil.rmtree(example_copy.parent)


def test_a_stray_partial_upload_is_swept():
    """An aborted upload leaves Gradio's temp file (often 0 bytes) directly in the upload folder: swept once it
    has not changed for a while."""
    import os
    import time

    import app

    store = app.uploads()
    store.root.mkdir(parents=True, exist_ok=True)
    stray = store.root / "tmpabc123-test"
    stray.write_bytes(b"")
    old = time.time() - store.stray_age - 5
    os.utime(stray, (old, old))
    store.sweep()
    assert not stray.exists()


def test_examples_read_as_their_buttons_say():
    """Each example's button says what the model reads in it: the shipped model must still read that first. A
    second label near its threshold may come and go between CPUs (Whisper's int8 kernels differ: on an AVX2-only
    EPYC the fearful voice reads surprise 0.77 / fear 0.37, where it read 0.64 / 0.43 on the machine it was
    recorded on), so the headline must start with the button's reading."""
    from app_helpers import get_predictor

    import app
    from tailor_core import summary

    predictor = get_predictor()
    for (video, audio, image, text), (what, reads) in zip(app.EXAMPLES, app.EXAMPLE_READINGS):
        pred = predictor.predict(video=video, audio=audio, image=image, text=text or None)
        headline = summary.headline(pred)
        assert headline == reads or headline.startswith(reads + ","), (what, headline)
    assert len(app.EXAMPLE_LABELS) == len(app.EXAMPLES)
    assert all(f"“{reads}”" in label and len(label) <= 50
               for label, (_, reads) in zip(app.EXAMPLE_LABELS, app.EXAMPLE_READINGS))  # Gradio cuts longer ones


def test_photo_and_text_show_no_timeline_or_duration():
    """A photo or typed text has no time axis: no 'scores over time' chart, no 'N s of input'."""
    from app_helpers import get_predictor

    import app

    app.set_predictor(get_predictor())
    def no_timeline(fig) -> bool:
        return not fig.data and app.NO_TIMELINE in str(fig.layout.annotations)

    summary_md, _scores, timeline, *_ = app.analyse(None, None, str(FACE), "what a lovely day")
    assert no_timeline(timeline) and "s of input" not in summary_md and "face found" in summary_md
    summary_md, _scores, timeline, *_ = app.analyse(None, None, None, "what a lovely day")
    assert no_timeline(timeline) and "s of input" not in summary_md
    summary_md, _scores, timeline, *_ = app.analyse(None, str(FACE.parent / "ravdess_fearful.wav"), None, "")
    assert timeline.data and "s of input" in summary_md and "click to seek" not in str(timeline.layout.title)


def test_live_handlers_in_process():
    import av
    import numpy as np
    from app_helpers import get_predictor

    import app

    app.set_predictor(get_predictor())
    request = _Request()
    with av.open(str(HAPPY)) as c:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])
                              for r in resampler.resample(f)])
    headline, *_rest = app.on_start(request)
    assert app.LIVE_LOOKING in headline  # Start answers at once: the page says it is looking and listening
    live = app._SESSIONS[request.session_hash]
    with av.open(str(HAPPY)) as c:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(c.streams.video[0])) if i % 15 == 0]
    first = app.on_frame(frames[0], request)  # the frame goes to the face thread; the call does not wait for it
    # what is seen and heard so far, or already the first scores (the handler waits up to show_wait for them)
    assert first[2].startswith("**Looking:**") or "labels:" in first[2], first[2]
    for frame in frames[1:]:
        app.on_frame(frame, request)
    app.on_audio((48000, pcm), request)
    deadline, status = time.monotonic() + 60, ""
    while time.monotonic() < deadline and "labels:" not in status:  # the update comes from the session's thread
        time.sleep(0.1)
        headline, _bars, status, _transcript, _timeline = app.on_frame(None, request)
        status = status if isinstance(status, str) else ""
    assert "labels:" in status and "last 6 s" in headline, status
    assert live.frames + live.dropped_frames == len(frames)
    assert app._SESSIONS[request.session_hash] is live
    app.on_reset(request)
    assert request.session_hash not in app._SESSIONS
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (live._updater is not None or live._framer is not None):
        time.sleep(0.05)
    assert live._updater is None and live._framer is None, "Stop leaves no live thread behind"


class _SlowSpeech:
    """The shared speech model for one session, slowed down: its transcription or its voice encoder pass."""

    def __init__(self, speech, transcribe: float = 0.0, states: float = 0.0) -> None:
        self._speech, self._transcribe, self._states = speech, transcribe, states

    def __getattr__(self, name):
        return getattr(self._speech, name)

    def transcribe(self, *args, **kwargs):
        time.sleep(self._transcribe)
        return self._speech.transcribe(*args, **kwargs)

    def states(self, *args, **kwargs):
        time.sleep(self._states)
        return self._speech.states(*args, **kwargs)


def _feed_live(live, seconds: float, start: float = 0.0) -> None:
    """``seconds`` of the happy clip (from ``start``) into a live session: 4 frames and 2 audio chunks a second."""
    import av
    import numpy as np

    with av.open(str(HAPPY)) as c:
        frames = [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]
        c.seek(0)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])
                              for r in resampler.resample(f)])
    duration = len(pcm) / 48000
    t = start
    while t < start + seconds - 1e-9:
        for k in range(2):
            ft = (t + 0.25 * k) % duration
            live.add_frame(min(frames, key=lambda f: abs(f[0] - ft))[1], t=t + 0.25 * k)
        a = int((t % duration) * 48000)
        live.add_audio(pcm[a: a + 24000], 48000, t=t)
        t += 0.5


def test_live_scores_never_wait_for_speech_to_text():
    """A transcription that takes 4 s: updates keep coming meanwhile (they never join it), each within a second."""
    from app_helpers import get_predictor

    from tailor_core.live import LiveSession

    live = LiveSession(get_predictor(), window_seconds=6.0)
    live._stream.speech = _SlowSpeech(live._stream.speech, transcribe=4.0)
    try:
        _feed_live(live, 3.0)
        assert live.predict(block=True) is not None
        assert live._stream._asr_thread is not None, "the update should have started a transcription after it"
        costs = []
        for step in range(3):
            _feed_live(live, 0.5, start=3.0 + 0.5 * step)
            t = time.perf_counter()
            assert live.predict(block=True) is not None
            costs.append(time.perf_counter() - t)
        assert live._stream._asr_thread is not None, "the slow transcription is still running"
        assert max(costs) < 2.0, costs
    finally:
        live.close()


def test_live_update_waits_for_its_voice_pass_only_so_long():
    """A voice encoder pass slower than the update's bound: the update comes without the newest steps' voice,
    and the next one has them."""
    from app_helpers import get_predictor

    from tailor_core.live import LiveSession
    from tailor_core.options import LiveOptions

    voice_wait = LiveOptions().voice_wait_seconds

    live = LiveSession(get_predictor(), window_seconds=6.0)
    try:
        _feed_live(live, 3.0)
        live._stream.bundle(transcribe=False)  # every step encoded, however long it takes
        fresh = live.predict(block=True, voice_wait=voice_wait)
        assert fresh is not None and fresh.present["audio"]
        live._stream.speech = _SlowSpeech(live._stream.speech, states=2.0)
        _feed_live(live, 1.0, start=3.0)
        t = time.perf_counter()
        late = live.predict(block=True, voice_wait=voice_wait)  # as the background updates do
        cost = time.perf_counter() - t
        assert late is not None and cost < voice_wait + 1.0, cost
        live._stream.speech = live._stream.speech._speech
        time.sleep(2.5)  # the slow pass finishes
        bundle = live._stream.bundle(transcribe=False, voice_wait=voice_wait)
        assert bundle.audio_mask.all(), bundle.audio_mask  # the next update has every step's voice again
    finally:
        live.close()


def test_live_first_answer_says_whether_a_face_is_in_view():
    """Before the first scores, the frame handler's own answer already says whether the camera shows a face (it
    waits for the frame's face, never for the first scores, which no background scorer makes here)."""
    import av
    import numpy as np
    from app_helpers import get_predictor

    import app
    from tailor_core.live import LiveSession
    from tailor_core.scoring import Prediction

    with av.open(str(HAPPY)) as c:
        face = next(c.decode(c.streams.video[0])).to_ndarray(format="rgb24")
    for frame, seen in ((face, "face seen"), (np.full_like(face, 90), "no face yet")):
        live = LiveSession(get_predictor(), options=app.LIVE)
        try:
            live.prepare()
            assert "waiting for the camera" in app.live_looking(live)
            with live._framing:  # the face thread is busy: the frame arrived, its face is not looked for yet
                live.offer_frame(frame)
                assert "camera on, finding the face" in app.live_looking(live)
                assert not live.wait_for_first_frame(0.05)
            headline, bars, status, *_ = app._live_outputs(live, wait=20.0)  # returns once the face is looked for
            assert app.LIVE_LOOKING in headline and seen in status, status
            assert live.wait_for_first_frame(0.0)
            # an update whose last grid steps hold no frame yet (they lag the audio on a busy machine): the status
            # says what the newest frame shows, not "no face"
            late = Prediction(scores={}, labels=[], thresholds={}, face_steps=[True, False, False])
            assert ("**face seen**" in app.live_status(live, late)) == (seen == "face seen")
        finally:
            live.close()


def test_live_offered_frames_keep_only_the_newest():
    """Frames offered while the face thread is busy: only the newest waits for it, the others are dropped."""
    import numpy as np
    from app_helpers import get_predictor

    from tailor_core.live import LiveSession

    live = LiveSession(get_predictor(), window_seconds=6.0)
    try:
        frame = np.zeros((48, 64, 3), np.uint8)
        with live._framing:  # the face thread is busy with a frame
            live.offer_frame(frame)
            deadline = time.monotonic() + 5
            while live._offered is not None and time.monotonic() < deadline:  # the thread took it
                time.sleep(0.01)
            for _ in range(3):
                live.offer_frame(frame)
            assert live.dropped_frames == 2
        deadline = time.monotonic() + 10
        while live.frames < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert live.frames == 2  # the first and the newest
    finally:
        live.close()


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


def test_about_is_one_screen_with_figures_from_results_json():
    """About: what it does, how well (the held-out figures, read from the checkpoint's results.json), what it
    can't do, privacy, licences and the full card's place; no version history, seeds, flags or dates."""
    import re

    from app_helpers import get_predictor

    import app

    predictor = get_predictor()
    about = app.about_markdown(predictor)
    assert len(about) < 4000, len(about)
    for heading in ("What it does", "How well", "What it can't do", "Privacy", "Licences", "checkpoints/README.md"):
        assert heading in about, heading
    results = json.loads((predictor.checkpoint / "results.json").read_text())
    assert f"{results['fused_app_summary']['tuned']['micro_f1']:.2f}" in about
    assert f"{results['single_modality']['audio']['tailor']['tuned']['micro_f1']:.2f}" in about
    assert not re.search(r"\bv\d\.\d|seed|--[a-z]|20\d\d-\d\d|target", about, re.I), "history or build details"
    assert "not read right" in about and "English only" in about


def test_a_stopped_server_leaves_nothing_in_the_temp_folder(tmp_path):
    """``python app.py`` keeps every temp file in a folder of its own (uploads, the examples' cache, libraries'
    stray files such as ONNX Runtime's ``.ses``) and removes it when stopped (SIGTERM)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from app_helpers import ROOT, _wait_http, free_port

    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    for name in ("GRADIO_TEMP_DIR", "GRADIO_EXAMPLES_CACHE"):
        env.pop(name, None)
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, timeout=300)
        result = Client(url, verbose=False).predict(handle_file(str(make_no_face_clip(tmp_path / "clip.mp4"))),
                                                    api_name="/predict_clip")
        assert result["present"]["audio"]
        (own,) = list(temp.glob("tailor-server-*"))  # everything the server writes in temp is in its own folder
        assert not [p for p in temp.iterdir() if p != own], list(temp.iterdir())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    time.sleep(0.5)
    assert not list(temp.rglob("*")), f"left in the temp folder: {list(temp.rglob('*'))[:10]}"
