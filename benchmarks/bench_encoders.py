"""Cost of the emotion-aware encoders on a 10 s clip (the one ``bench_features.py`` builds), and per unit.

    OMP_NUM_THREADS=2 python benchmarks/bench_encoders.py [--threads 2] [--repeats 3]

* voice: Whisper encoder states of the clip (log-mel padded to 30 s as transcription does, to 10 s, unpadded),
  speech-to-text alone, and voice features + speech-to-text of the same audio (one encoder pass for both,
  ``SpeechRecognizer.listen``); one live voice pass (up to 6.5 s of audio padded to
  ``LiveOptions.voice_pad_seconds``, as ``StreamExtractor`` encodes it);
* face: per-face cost of ``align_face`` + the CNN (and of the FaceLandmarker it follows) on the clip's frames;
* words: the fine-tuned MiniLM (``EmotionTextEncoder``) vs the base one (``TextEncoder``) on the transcript.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_features import best_of, build_clip  # noqa: E402

from tailor_core.features import face_expression as FE  # noqa: E402
from tailor_core.features import voice_states as VS  # noqa: E402
from tailor_core.features.media import decode_audio, iter_video_frames  # noqa: E402
from tailor_core.features.speech import SpeechRecognizer  # noqa: E402
from tailor_core.features.text import TextEncoder  # noqa: E402
from tailor_core.features.text_emotion import EmotionTextEncoder  # noqa: E402
from tailor_core.features.visual import FaceAnalyzer, largest_face  # noqa: E402
from tailor_core.options import LiveOptions  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    res: dict[str, float | int | str] = {"threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        clip = build_clip(Path(tmp) / "clip.mp4")
        y, _ = decode_audio(clip, 600)
        frames = list(iter_video_frames(clip, 600))
    res["clip_seconds"] = round(len(y) / 16000, 2)

    # ---- voice
    sr = SpeechRecognizer(cpu_threads=args.threads).load()
    model = sr.model
    VS.encoder_states(model, y[:16000])  # warm up
    for pad in (30.0, 10.0, 0.0):
        t = best_of(lambda: VS.encoder_states(model, y, pad_seconds=pad), args.repeats)[0]  # noqa: B023
        res[f"voice_states_pad{pad:.0f}_s"] = round(t, 3)
    res["speech_to_text_s"] = round(best_of(lambda: sr.transcribe(y), args.repeats)[0], 3)
    # what FeatureExtractor does: voice features and the transcript of the same audio, from one encoder pass
    res["speech_to_text_plus_voice_features_shared_s"] = round(best_of(lambda: sr.listen(y), args.repeats)[0], 3)
    costs = []
    live_pad = LiveOptions().voice_pad_seconds
    for end in range(6 * 16000, len(y) + 1, 8000):  # one live update per 0.5 s: <= 6.5 s of audio, one live pass
        t = time.perf_counter()
        VS.encoder_states(model, y[max(0, end - 104000): end], live_pad)
        costs.append(time.perf_counter() - t)
    res["voice_live_update_median_s"] = round(float(np.median(costs)), 3)

    # ---- face
    fa, fx = FaceAnalyzer().load(), FE.FaceExpressionModel().load()
    tracker = fa.tracker()
    lms = []
    import mediapipe as mp

    t_lm = 0.0
    for t_f, f in frames:
        t = time.perf_counter()
        res_mp = tracker._lm.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=f), round(t_f * 1000))
        t_lm += time.perf_counter() - t
        det = largest_face(res_mp, f.shape[1], f.shape[0])
        if det.landmarks is not None:
            lms.append((f, det.landmarks))
    tracker.close()
    fx.features(*lms[0])
    t = time.perf_counter()
    for f, lm in lms:
        fx.features(f, lm)
    res["faces"] = len(lms)
    res["face_landmarker_ms_per_frame"] = round(1000 * t_lm / len(frames), 2)
    res["face_cnn_ms_per_face_incl_align"] = round(1000 * (time.perf_counter() - t) / len(lms), 2)

    # ---- words
    words = [w for w, *_ in sr.transcribe(y)] or "kids are talking by the door".split()
    base, emo = TextEncoder().load(), EmotionTextEncoder().load()
    res["n_words"] = len(words)
    res["text_base_s"] = round(best_of(lambda: base.encode_words(words), args.repeats)[0], 4)
    res["text_emotion_s"] = round(best_of(lambda: emo.encode_words(words), args.repeats)[0], 4)
    print(json.dumps(res, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
