"""Per-stage cost of the feature extractors, as a real-time factor (seconds of compute per second of media).

    python benchmarks/bench_features.py [--clip FILE] [--repeats 3]

Without ``--clip`` a 10 s, 1280x720, 30 fps test clip with speech is built from the test fixtures (RAVDESS
statements, upscaled to 720p as a typical upload). Stages: decode (audio track + sampled video frames), face
(MediaPipe landmarks + the FER+ expression network on the 10 fps frames), voice (Whisper encoder states, one
30 s pass), speech-to-text (Whisper tiny.en int8, VAD, reusing the voice features' encoder pass), text encoder
(emotion-tuned MiniLM on the transcript), and total = ``FeatureExtractor.clip`` end to end (voice and
speech-to-text run in parallel with decoding + face tracking, and the expression network beside the
landmarker, so total < the sum). Streaming: one update with 1 s of new webcam media (30 frames of 640x480 +
two 0.5 s chunks of 48 kHz int16 audio) and ``bundle()``, without speech-to-text.
Targets: total <= 0.5x real time, streaming update <= 500 ms. Models are loaded (and warmed up) first.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tailor_core.features import FeatureExtractor  # noqa: E402
from tailor_core.features.media import decode_audio, iter_video_frames  # noqa: E402
from tests.media_utils import write_clip  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SOURCES = ["ravdess_happy_kids.mp4", "ravdess_fearful_kids.mp4"]
CLIP_SECONDS = 10.0
WIDTH, HEIGHT, FPS = 1280, 720, 30
TARGET_RTF = 0.5
TARGET_UPDATE_MS = 500.0  # issue 9: one live update <= 0.5 s (300 ms was this script's own first goal)


def build_clip(path: Path, seconds: float = CLIP_SECONDS) -> Path:
    """Concatenate the fixture clips (repeated) into a ``seconds`` long 720p H.264 + AAC file."""
    from PIL import Image

    frames: list[np.ndarray] = []
    audio: list[np.ndarray] = []
    i = 0
    while len(frames) < seconds * FPS:
        src = FIXTURES / SOURCES[i % len(SOURCES)]
        i += 1
        clip_frames = [f for _, f in iter_video_frames(src, 60, fps=1000, max_side=4000)]
        y, _ = decode_audio(src, 60, sample_rate=48000)
        n = len(clip_frames)
        frames += [np.asarray(Image.fromarray(f).resize((WIDTH, HEIGHT))) for f in clip_frames]
        audio.append(np.pad(y, (0, max(0, int(n / FPS * 48000) - len(y))))[: int(n / FPS * 48000)])
    frames = frames[: int(seconds * FPS)]
    pcm = np.concatenate(audio)[: int(seconds * 48000)].astype(np.float32)
    write_clip(path, frames, FPS, audio=pcm, sample_rate=48000)
    return path


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def bench_clip(fx: FeatureExtractor, path: Path, repeats: int) -> tuple[list[tuple[str, float]], float, str]:
    def decode():
        y, _ = decode_audio(path, 600)
        frames = list(iter_video_frames(path, 600))
        return y, frames

    t_decode, (y16, frames) = best_of(decode, repeats)
    duration = len(y16) / 16000

    def faces():
        tracker = fx.faces.tracker()
        try:
            return [tracker(f, t) for t, f in frames]
        finally:
            tracker.close()

    t_face, vecs = best_of(faces, repeats)
    # As in FeatureExtractor.clip: the voice features' 30 s encoder pass, then speech-to-text of the same audio
    # given that pass (SpeechRecognizer.listen).
    from tailor_core.features.voice_states import encoder_pass, pause_cuts

    t_voice = t_speech = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _states, window = encoder_pass(fx.speech.model, y16)
        t1 = time.perf_counter()
        words = fx.speech.transcribe(y16, encoder_output=window)
        t_voice, t_speech = min(t_voice, t1 - t0), min(t_speech, time.perf_counter() - t1)
    pieces = len(pause_cuts(y16, fx.voice_pause_seconds)) - 1
    t_file, _ = best_of(lambda: fx.voice(y16), repeats)
    t_text, _ = best_of(lambda: fx.text_encoder.encode_words([w[0] for w in words]), repeats)
    t_total, bundle = best_of(lambda: fx.clip(path), repeats)
    rows = [
        (f"decode (audio + {len(frames)} sampled frames)", t_decode),
        (f"face ({sum(v is not None for v in vecs)}/{len(vecs)} frames with a face)", t_face),
        ("voice (Whisper encoder states, one 30 s pass)", t_voice),
        (f"a file's voice (two phases, {pieces} piece(s) cut at pauses; the first pass shared in the total)", t_file),
        (f"speech-to-text ({len(words)} words; VAD + decoding, reusing the voice pass)", t_speech),
        ("text encoder (emotion-tuned MiniLM)", t_text),
        ("**total** (`FeatureExtractor.clip`, end to end)", t_total),
    ]
    return rows, duration, bundle.transcript


def bench_stream(fx: FeatureExtractor, updates: int = 8) -> list[float]:
    """Cost (s) of updates each adding 1 s of webcam media, in a 6 s window, without speech-to-text."""
    from PIL import Image

    src = FIXTURES / SOURCES[0]
    frames = [
        np.asarray(Image.fromarray(f).resize((640, 480))) for _, f in iter_video_frames(src, 60, fps=1000)
    ]
    y48, _ = decode_audio(src, 60, sample_rate=48000)
    pcm = (np.clip(y48, -1, 1) * 32767).astype(np.int16)
    st = fx.stream(window_seconds=6.0, transcribe=False)
    costs = []
    for sec in range(updates):
        t0 = time.perf_counter()
        for k in range(FPS):
            st.add_frame(frames[(sec * FPS + k) % len(frames)], t=sec + k / FPS)
        for h in range(2):
            s = ((2 * sec + h) * 24000) % max(1, len(pcm) - 24000)
            st.add_audio(pcm[s : s + 24000], 48000, t=sec + h * 0.5)
        st.bundle()
        costs.append(time.perf_counter() - t0)
    st.close()
    return costs[2:]  # skip the first updates (tracker start-up)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--clip", type=Path, help="media file to time (default: a 10 s 720p clip built from fixtures)"
    )
    ap.add_argument("--repeats", type=int, default=3, help="runs per stage; the best is reported")
    ap.add_argument("--piece-pad", type=float, default=None,
                    help="voice_states.PIECE_PAD_SECONDS: the window a piece is padded to (default: the shipped one)")
    ap.add_argument("--voice-pause", type=float, default=None,
                    help="FeatureExtractor.voice_pause_seconds (default: the shipped one; 0: one voice pass a file)")
    ap.add_argument("--torch-threads", type=int, default=0,
                    help="torch.set_num_threads before loading (0: torch's own default, one thread per core)")
    args = ap.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)

    t = time.perf_counter()
    fx = FeatureExtractor().load()
    if args.piece_pad is not None:
        import tailor_core.features.voice_states as vs

        vs.PIECE_PAD_SECONDS = args.piece_pad
    if args.voice_pause is not None:
        fx.voice_pause_seconds = args.voice_pause
    load_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = args.clip or build_clip(Path(tmp) / "bench_10s_720p.mp4")
        rows, duration, transcript = bench_clip(fx, path, args.repeats)
    stream_costs = bench_stream(fx)

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, torch threads {args.torch_threads or 'default'}; "
        f"models loaded in {load_s:.1f} s"
    )
    print(
        f"Clip: {args.clip.name if args.clip else 'fixtures concatenated, 1280x720 30 fps'}, "
        f"{duration:.1f} s; "
        f"transcript: {transcript!r}\n"
    )
    print("| stage | seconds | x real time |")
    print("|---|---:|---:|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} | {sec / duration:.3f} |")
    med = statistics.median(stream_costs) * 1000
    worst = max(stream_costs) * 1000
    print(
        f"| streaming update: 1 s of new media (30 frames 640x480 + 1 s of 48 kHz audio), no speech-to-text "
        f"| {med / 1000:.3f} (max {worst / 1000:.3f}) | {med / 1000:.3f} |"
    )
    total = rows[-1][1] / duration
    print(
        f"\nTargets: total <= {TARGET_RTF}x real time -> {total:.2f}x "
        f"{'OK' if total <= TARGET_RTF else 'MISSED'}; "
        f"streaming update <= {TARGET_UPDATE_MS:.0f} ms -> median {med:.0f} ms "
        f"{'OK' if med <= TARGET_UPDATE_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
