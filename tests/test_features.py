"""Feature extraction on real media (small fixtures in tests/fixtures, see its README for licences).

Models are loaded once per session. Bad inputs are generated under ``tmp_path``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from media_utils import write_clip
from PIL import Image

from tailor_core.features import (
    AUDIO_DIM,
    IMAGE_STEPS,
    TEXT_DIM,
    VISUAL_DIM,
    FeatureBundle,
    FeatureError,
    FeatureExtractor,
)
from tailor_core.features.media import decode_audio, iter_video_frames
from tailor_core.features.visual import BASE_DIM
from tailor_core.options import Limits

FIXTURES = Path(__file__).parent / "fixtures"
RAVDESS = ["ravdess_happy_kids.mp4", "ravdess_fearful_kids.mp4"]
STATEMENTS = ("kids are talking by the door", "dogs are sitting by the door")

pytestmark = pytest.mark.timeout(300)


def norm(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower()).strip()


@pytest.fixture(scope="session")
def fx() -> FeatureExtractor:
    return FeatureExtractor().load()


@pytest.fixture(scope="session")
def ravdess(fx: FeatureExtractor) -> dict[str, FeatureBundle]:
    return {name: fx.clip(FIXTURES / name) for name in RAVDESS}


def rgb(name: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / name).convert("RGB"))


def write_video(
    path: Path, frames: list[np.ndarray], fps: int = 30, audio: np.ndarray | None = None, sr: int = 48000
) -> Path:
    """Encode RGB frames (+ optional mono float audio) with PyAV."""
    return write_clip(path, frames, fps, audio=audio, sample_rate=sr)


# ------------------------------------------------------------------------------------------------ real clips
@pytest.mark.parametrize("name", RAVDESS)
def test_ravdess_face_and_transcript(ravdess: dict[str, FeatureBundle], name: str) -> None:
    b = ravdess[name]
    assert 6 <= len(b) <= 7 and 3.0 < b.duration < 3.5
    assert b.visual_mask.mean() >= 0.9, b.visual_mask
    assert b.audio_mask.all()
    assert any(s in norm(b.transcript) for s in STATEMENTS), b.transcript
    assert b.text_mask.sum() >= 2
    for w in b.words:  # each word sits in the step holding its midpoint, and that step has text
        assert w.step == int((w.start + w.end) / 2 / b.step_seconds) and b.text_mask[w.step]
    assert b.text.shape == (len(b), TEXT_DIM) and b.audio.shape == (len(b), AUDIO_DIM)
    assert b.visual.shape == (len(b), VISUAL_DIM)
    assert np.isfinite(b.audio).all() and np.isfinite(b.visual).all() and np.isfinite(b.text).all()
    assert (b.visual[b.visual_mask, :52] >= 0).all() and (b.visual[b.visual_mask, :52] <= 1).all()


def test_face_vector_carries_the_expression_networks_reading(ravdess: dict[str, FeatureBundle]) -> None:
    """The last 8 visual values are the FER+ network's class probabilities for the aligned face of each frame:
    the happy clip reads as happiness, the fearful one not (the expression is wired into the grid)."""
    from tailor_core.features.face_expression import CLASSES, N_CLASSES

    def mean_probs(name: str) -> np.ndarray:
        b = ravdess[name]
        return b.visual[b.visual_mask, -N_CLASSES:].mean(0)

    happy, fearful = mean_probs("ravdess_happy_kids.mp4"), mean_probs("ravdess_fearful_kids.mp4")
    assert happy.sum() == pytest.approx(1.0, abs=1e-3)
    assert CLASSES[int(happy.argmax())] == "happiness", happy.round(2)
    assert fearful[CLASSES.index("happiness")] < happy[CLASSES.index("happiness")] - 0.3, fearful.round(2)


def test_clip_path_batches_the_expression_network_without_changing_the_features(
    fx: FeatureExtractor, ravdess: dict[str, FeatureBundle]
) -> None:
    # the clip path runs the CNN in batches beside the landmarker; the live path reads one frame at a time
    from tailor_core.features.align import assemble

    path = FIXTURES / "ravdess_happy_kids.mp4"
    tracker = fx.faces.tracker()
    try:
        faces = [(t, tracker(rgb, t)) for t, rgb in iter_video_frames(path, 60)]
    finally:
        tracker.close()
    clip = ravdess["ravdess_happy_kids.mp4"]
    one_by_one = assemble(len(clip.visual), faces=faces, duration=clip.duration)
    assert (clip.visual_mask == one_by_one.visual_mask).all() and clip.visual_mask.any()
    assert np.allclose(clip.visual, one_by_one.visual, atol=1e-4)


def test_silent_clip_has_face_and_no_words(fx: FeatureExtractor) -> None:
    b = fx.clip(FIXTURES / "pexels_silent_face.mp4")
    assert len(b) == 12 and b.visual_mask.mean() >= 0.9
    assert b.words == [] and not b.text_mask.any()
    assert b.audio_mask.all()  # silence is still audio

    def cos(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x * y).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))

    # ... but Whisper's states of silence are alike and unlike a voice's (measured: 0.74-0.91 vs 0.36-0.56)
    speech = fx.clip(FIXTURES / RAVDESS[0], transcribe=False).audio
    silence = b.audio.mean(0)
    assert cos(b.audio, silence).mean() > 0.75 and cos(speech, silence).mean() < 0.6


def test_no_face_clip_masks_visual(fx: FeatureExtractor) -> None:
    b = fx.clip(FIXTURES / "no_face.mp4")
    assert len(b) >= 7 and not b.visual_mask.any() and not b.visual.any()
    assert b.audio_mask.all()


def test_single_face_clip_near_silent(fx: FeatureExtractor) -> None:
    b = fx.clip(FIXTURES / "single_face.mp4", transcribe=False)
    assert b.visual_mask.all() and b.words == []


# ------------------------------------------------------------------------------------------------ stills
def test_images_with_one_and_several_faces(fx: FeatureExtractor) -> None:
    for name in ("single_face.jpg", "multi_face.jpg"):
        b = fx.image(FIXTURES / name)
        assert (
            len(b) == IMAGE_STEPS and b.visual_mask.all() and not b.audio_mask.any() and not b.text_mask.any()
        )
        assert np.allclose(b.visual, b.visual[0])


def test_largest_face_is_chosen(fx: FeatureExtractor) -> None:
    img = rgb("single_face.jpg")
    big = fx.faces.still(img)
    small = np.asarray(Image.fromarray(np.fliplr(img).copy()).resize((img.shape[1] // 3, img.shape[0] // 3)))
    canvas = np.zeros((img.shape[0], img.shape[1] + small.shape[1] + 40, 3), np.uint8)
    canvas[:, : img.shape[1]] = img
    canvas[: small.shape[0], img.shape[1] + 40 :] = small
    both = fx.faces.still(canvas)
    assert big is not None and both is not None
    # the big face, not the small mirrored one: same blendshapes and pose, same expression reading
    assert np.abs(both[:BASE_DIM] - big[:BASE_DIM]).max() < 0.1
    e1, e2 = big[BASE_DIM:], both[BASE_DIM:]
    assert e1 @ e2 / (np.linalg.norm(e1) * np.linalg.norm(e2)) > 0.95


def test_fer_like_48px_gray_crop_is_found(fx: FeatureExtractor) -> None:
    gray = np.asarray(Image.open(FIXTURES / "single_face.jpg").convert("L"))
    crop = np.asarray(Image.fromarray(gray[160:330, 200:370]).resize((48, 48)))
    assert crop.shape == (48, 48)
    assert fx.faces.still(crop) is not None
    assert fx.image(crop).visual_mask.all()


def test_4k_frame(fx: FeatureExtractor) -> None:
    img = rgb("single_face.jpg")
    frame = np.zeros((2160, 3840, 3), np.uint8)
    big = np.asarray(Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3)))
    frame[200 : 200 + big.shape[0], 1000 : 1000 + big.shape[1]] = big
    t = time.perf_counter()
    assert fx.image(frame).visual_mask.all()
    assert time.perf_counter() - t < 2.0


def test_image_without_face_is_masked(fx: FeatureExtractor, tmp_path: Path) -> None:
    noise = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
    b = fx.image(noise)
    assert len(b) == IMAGE_STEPS and not b.visual_mask.any()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(FeatureError):
        fx.image(bad)


# ------------------------------------------------------------------------------------------------ audio &
# text
@pytest.fixture(scope="session")
def speech16k() -> np.ndarray:
    y, _ = decode_audio(FIXTURES / RAVDESS[0], 600)
    return y


@pytest.mark.parametrize("sr", [8000, 96000])
def test_audio_at_8k_and_96k(fx: FeatureExtractor, speech16k: np.ndarray, sr: int) -> None:
    import soxr

    y = soxr.resample(speech16k, 16000, sr)
    b = fx.audio(y, sr)
    assert 6 <= len(b) <= 7 and b.audio_mask.all() and not b.visual_mask.any()
    assert any(s in norm(b.transcript) for s in STATEMENTS), b.transcript


def test_stereo_int16_audio_file(fx: FeatureExtractor, speech16k: np.ndarray, tmp_path: Path) -> None:
    import soxr

    y = soxr.resample(speech16k, 16000, 44100)
    stereo = (np.stack([y, 0.5 * y], axis=1) * 32767).astype(np.int16)
    path = tmp_path / "speech.wav"
    sf.write(path, stereo, 44100, subtype="PCM_16")
    b = fx.clip(path)  # audio-only file
    assert not b.visual_mask.any() and b.audio_mask.all()
    assert any(s in norm(b.transcript) for s in STATEMENTS), b.transcript
    a = fx.audio(stereo, 44100, transcribe=False)
    a2 = fx.audio(stereo.T.copy(), 44100, transcribe=False)
    np.testing.assert_allclose(a.audio, a2.audio, rtol=1e-4, atol=1e-3)


def test_silence_gives_no_words(fx: FeatureExtractor) -> None:
    b = fx.audio(np.zeros(48000 * 3, np.int16), 48000)
    assert len(b) == 6 and b.audio_mask.all() and b.words == [] and not b.text_mask.any()
    assert fx.speech.transcribe(np.zeros(16000 * 2, np.float32)) == []
    noise = (np.random.default_rng(1).standard_normal(16000 * 3) * 0.01).astype(np.float32)
    assert len(fx.speech.transcribe(noise)) <= 1


def test_empty_audio_raises(fx: FeatureExtractor) -> None:
    with pytest.raises(FeatureError):
        fx.audio(np.zeros(0, np.int16), 16000)
    with pytest.raises(FeatureError):
        fx.audio(np.zeros(100, np.float32), 0)


def test_text_bundle_and_word_vectors(fx: FeatureExtractor) -> None:
    words, vecs = fx.text_encoder.word_vectors("I can't believe it, this is wonderful!")
    assert words[1] == "can't" and vecs.shape == (len(words), TEXT_DIM)
    b = fx.text("I can't believe it, this is wonderful!")
    assert len(b) == 3 and b.text_mask.all() and not b.visual_mask.any() and not b.audio_mask.any()
    assert b.transcript == " ".join(words) and [w.step for w in b.words] == sorted(w.step for w in b.words)
    assert len(fx.text("hello", n_steps=10)) == 10
    e = fx.text("   ")
    assert len(e) == 1 and not e.text_mask.any() and e.words == []
    long_words, long_vecs = fx.text_encoder.word_vectors("word " * 700)  # beyond MiniLM's 512 tokens
    assert long_vecs.shape == (700, TEXT_DIM) and np.isfinite(long_vecs).all()


def test_merge_image_and_text(fx: FeatureExtractor) -> None:
    m = FeatureBundle.merge(fx.image(FIXTURES / "single_face.jpg"), fx.text("what a lovely surprise"))
    assert (
        len(m) == IMAGE_STEPS and m.visual_mask.all() and m.text_mask[:2].all() and not m.text_mask[2:].any()
    )


# ------------------------------------------------------------------------------------------------ bad files
def test_corrupt_truncated_and_empty_files(fx: FeatureExtractor, tmp_path: Path) -> None:
    data = (FIXTURES / RAVDESS[0]).read_bytes()
    cases = {
        "random.mp4": np.random.default_rng(2).integers(0, 256, 100_000, dtype=np.uint8).tobytes(),
        "empty.mp4": b"",
        "notes.mov": b"hello, this is a text file\n" * 50,
        "head.mp4": data[:2000],
    }
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(FeatureError):
            fx.clip(p)
    # a file cut in the middle: a clear error, or the part that could be decoded (never a crash or a hang)
    for frac in (0.5, 0.9):
        p = tmp_path / f"cut{frac}.mp4"
        p.write_bytes(data[: int(len(data) * frac)])
        try:
            b = fx.clip(p)
        except FeatureError as e:
            assert str(e)
        else:
            assert len(b) >= 1


def test_video_only_and_one_second_clips(fx: FeatureExtractor, tmp_path: Path) -> None:
    frames = [f for _, f in iter_video_frames(FIXTURES / RAVDESS[0], 1.0, fps=1000)]
    assert 28 <= len(frames) <= 31
    b = fx.clip(write_video(tmp_path / "silent_video.mp4", frames))
    assert len(b) == 2 and b.visual_mask.all() and not b.audio_mask.any() and b.words == []
    y, _ = decode_audio(FIXTURES / RAVDESS[0], 1.0, sample_rate=48000)
    b = fx.clip(write_video(tmp_path / "one_second.mp4", frames, audio=y))
    assert len(b) == 2 and b.visual_mask.all() and b.audio_mask.all()


def test_long_clip_is_cut_at_max_seconds(fx: FeatureExtractor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fx, "limits", Limits(max_seconds=2.0))
    b = fx.clip(FIXTURES / "pexels_silent_face.mp4")
    assert b.truncated and len(b) == 4 and b.duration <= 2.0 + 1e-6 and b.visual_mask.all()
    monkeypatch.undo()
    assert not fx.clip(FIXTURES / "single_face.mp4", transcribe=False).truncated


def test_clip_on_an_image_file(fx: FeatureExtractor) -> None:
    assert fx.clip(FIXTURES / "single_face.jpg").visual_mask.all()


# ------------------------------------------------------------------------------------------------ streaming
def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.abs(a).max(axis=0) + 1.0
    return float((np.abs(a - b) / scale).max())


def test_stream_matches_clip(fx: FeatureExtractor, ravdess: dict[str, FeatureBundle]) -> None:
    path = FIXTURES / RAVDESS[0]
    ref = ravdess[RAVDESS[0]]
    frames = list(iter_video_frames(path, 600, fps=1000))
    y48, _ = decode_audio(path, 600, sample_rate=48000)
    pcm = (np.clip(y48, -1, 1) * 32767).astype(np.int16)  # what Gradio's microphone delivers
    st = fx.stream(window_seconds=30)
    fi = 0
    chunk = 24000  # 0.5 s at 48 kHz
    for k in range(0, len(pcm), chunk):
        t_end = (k + chunk) / 48000
        while fi < len(frames) and frames[fi][0] < t_end:
            st.add_frame(frames[fi][1], t=frames[fi][0])
            fi += 1
        st.add_audio(pcm[k : k + chunk], 48000, t=k / 48000)
        live = st.bundle()
        assert len(live) >= 1
    for t, f in frames[fi:]:
        st.add_frame(f, t=t)
    b = st.bundle(flush=True)
    assert len(b) == len(ref)
    np.testing.assert_allclose(b.times, ref.times)
    for m in ("visual", "audio", "text"):
        np.testing.assert_array_equal(getattr(b, f"{m}_mask"), getattr(ref, f"{m}_mask"))
    assert relative_error(ref.visual, b.visual) < 0.05
    # Live voice states see less audio after a step, in a shorter window, than a file's pass: close, not equal.
    cos = (ref.audio * b.audio).sum(1) / (np.linalg.norm(ref.audio, axis=1) * np.linalg.norm(b.audio, axis=1))
    assert cos.mean() > 0.9 and cos.min() > 0.7, cos.round(3)
    assert norm(b.transcript) == norm(ref.transcript)
    st.close()


def test_stream_transcript_of_a_looped_clip_reads_as_its_words(fx: FeatureExtractor) -> None:
    """What a fake microphone plays (the clip twice, in 0.5 s chunks): each sentence once, in order, no word
    doubled or garbled at the chunk edges (words are committed only when two passes agree, at a pause)."""
    y48, _ = decode_audio(FIXTURES / RAVDESS[0], 600, sample_rate=48000)
    pcm = (np.clip(np.concatenate([y48, y48]), -1, 1) * 32767).astype(np.int16)
    st = fx.stream(window_seconds=6)
    st.background = False  # passes run in bundle(), deterministically
    seen = []
    for k in range(0, len(pcm), 24000):
        st.add_audio(pcm[k : k + 24000], 48000, t=k / 48000)
        st.bundle()
        seen.append(st.transcript)
    st.bundle(flush=True)
    words = norm(st.transcript).split()
    assert " ".join(words) == f"{STATEMENTS[0]} {STATEMENTS[0]}", (st.transcript, seen)
    for text in seen:  # what was shown along the way: never a doubled word
        w = norm(text).split()
        assert not [a for a, b in zip(w, w[1:]) if a == b], seen
    st.close()


@pytest.mark.parametrize("name", RAVDESS)
def test_stream_opened_mid_word_hands_the_model_no_invented_word(fx: FeatureExtractor, name: str) -> None:
    """A microphone that opens inside a word, and passes whose newest chunk ends inside one: no pass hands the
    transcript or the model a word the clip does not say (the rest of a cut word, "...king", read as a word)."""
    y48, _ = decode_audio(FIXTURES / name, 600, sample_rate=48000)
    clip_words = fx.speech.transcribe(decode_audio(FIXTURES / name, 600)[0])
    said = {norm(w[0]) for w in clip_words}
    pcm = (np.clip(np.concatenate([y48] * 4), -1, 1) * 32767).astype(np.int16)
    for word in clip_words[1:4]:  # open the microphone in the middle of each of these words
        st = fx.stream(window_seconds=6)
        st.background = False  # passes run in bundle(), deterministically
        start = int(0.5 * (word[1] + word[2]) * 48000)
        heard = []
        for k in range(start, start + 8 * 48000, 24000):
            st.add_audio(pcm[k : k + 24000], 48000, t=(k - start) / 48000)
            heard.append((st.transcript, [w.text for w in st.bundle(transcribe=True).words]))
        invented = [h for h in heard if not set(norm(h[0]).split()) | {norm(w) for w in h[1]} <= said]
        assert not invented, (word, invented)
        assert len(norm(st.transcript).split()) >= 6, heard  # a whole sentence was heard and kept
        st.close()


def test_edges_cut_inside_sound_are_told_and_their_unconfirmed_words_left_out() -> None:
    from tailor_core.features.stream import SAMPLE_RATE, StreamExtractor, _cut_in_sound

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    quiet = np.float32(1e-4) * np.random.default_rng(0).standard_normal(8000).astype(np.float32)  # -70 dB
    assert _cut_in_sound(np.concatenate([quiet, tone]), -26.0) == (False, True)
    assert _cut_in_sound(np.concatenate([tone, quiet]), -26.0) == (True, False)
    assert _cut_in_sound(np.zeros(SAMPLE_RATE, np.float32), -26.0) == (False, False)
    words = [("Kids", 0.1, 0.4), ("are", 0.45, 0.6), ("talking", 0.65, 1.0), ("by", 2.6, 2.9), ("Cancer", 3.0, 3.48)]
    end = int(3.5 * SAMPLE_RATE)
    assert StreamExtractor._edge_words(words, 1, end, ["kids", "are"], end_cut=False) == 4  # cut in silence
    # cut in sound: the words of the last second are shown only as far as the previous pass heard them alike
    assert StreamExtractor._edge_words(words, 1, end, ["kids", "are"], end_cut=True) == 2
    assert StreamExtractor._edge_words(words, 1, end, ["kids", "are", "talking", "by"], end_cut=True) == 3
    assert StreamExtractor._edge_words(words, 0, end, [], end_cut=True) == 3


def test_commit_point_needs_two_passes_to_agree() -> None:
    from tailor_core.features.stream import SAMPLE_RATE, StreamExtractor

    words = [("Kids", 0.1, 0.4), ("are", 0.45, 0.6), ("talking", 0.65, 1.0), ("by", 1.6, 1.7)]
    end = int(3.5 * SAMPLE_RATE)
    n, cut = StreamExtractor._commit_point(words, 0, end, False, previous=["Kins", "are"])
    assert n == 0 and cut == 0  # the first word changed between passes: nothing is final yet
    n, cut = StreamExtractor._commit_point(words, 0, end, False, previous=["kids", "are", "talking", "bye"])
    assert n == 3 and 1.0 * SAMPLE_RATE < cut < 1.6 * SAMPLE_RATE  # cut inside the pause after "talking"
    assert StreamExtractor._commit_point(words, 0, end, True, previous=[]) == (4, end)


def test_stream_rolling_window_and_reset(fx: FeatureExtractor) -> None:
    st = fx.stream(window_seconds=2.0, transcribe=False)
    img = rgb("single_face.jpg")
    big = np.asarray(Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3)))
    frame4k = np.zeros((2160, 3840, 3), np.uint8)  # a webcam-like framing: the face fills most of the height
    frame4k[200 : 200 + big.shape[0], 1000 : 1000 + big.shape[1]] = big
    for i in range(40):  # 4 s of 10 fps video, 4K frames, with 0.1 s audio chunks at 48 kHz
        t = i * 0.1
        st.add_frame(frame4k, t=t)
        st.add_audio((np.random.default_rng(i).standard_normal(4800) * 300).astype(np.int16), 48000, t=t)
    b = st.bundle()
    assert len(b) == 4 and b.times[0] == pytest.approx(2.0) and b.visual_mask.all() and b.audio_mask.all()
    st.reset()
    assert len(st.bundle()) == 0
    st.add_frame(img)  # wall-clock timestamps
    assert len(st.bundle()) == 1 and st.bundle().visual_mask.all()
    st.close()


def test_stream_update_cost(fx: FeatureExtractor) -> None:
    """One update with 1 s of new media (10 frames + two 0.5 s chunks), without speech-to-text."""
    st = fx.stream(window_seconds=6.0, transcribe=False)
    frames = [f for _, f in iter_video_frames(FIXTURES / RAVDESS[0], 3.0, fps=1000)]
    y48, _ = decode_audio(FIXTURES / RAVDESS[0], 3.0, sample_rate=48000)
    pcm = (y48 * 32767).astype(np.int16)
    costs = []
    for sec in range(3):
        t0 = time.perf_counter()
        for i in range(30):
            st.add_frame(frames[min(sec * 30 + i, len(frames) - 1)], t=sec + i / 30)
        for h in range(2):
            s = (2 * sec + h) * 24000
            st.add_audio(pcm[s : s + 24000], 48000, t=s / 48000)
        st.bundle()
        costs.append(time.perf_counter() - t0)
    assert min(costs) < 1.0  # the benchmark checks the 300 ms target; this only guards against regressions


def test_stream_reset_while_transcribing_does_not_block(fx: FeatureExtractor, speech16k: np.ndarray) -> None:
    st = fx.stream(window_seconds=6.0)
    pcm = (speech16k * 32767).astype(np.int16)
    for k in range(0, len(pcm), 8000):
        st.add_audio(pcm[k : k + 8000], 16000, t=k / 16000)
        st.bundle()  # starts a background speech-to-text pass once 2 s have arrived
    t = time.perf_counter()
    st.reset()
    assert time.perf_counter() - t < 0.5
    assert len(st.bundle()) == 0
    st.add_audio(pcm[:16000], 16000, t=0.0)
    b = st.bundle(flush=True)
    assert len(b) == 2 and b.audio_mask.all()
    st.close()


def test_the_extractor_owns_and_closes_its_landmarkers() -> None:
    import ast
    import inspect

    from tailor_core.features import visual
    from tailor_core.features.visual import FaceAnalyzer

    with FaceAnalyzer() as faces:
        faces.load()
        kept, dropped = faces.tracker(), faces.tracker()
        with kept:
            assert faces._trackers == {kept, dropped}
        assert kept._lm is None and faces._trackers == {dropped}  # a closed tracker is forgotten
    assert faces._image_landmarker is None and dropped._lm is None and not faces._trackers  # closed with its owner
    det = faces.still_detection(np.zeros((64, 64, 3), np.uint8))[0]  # used again: it loads again
    assert det.base is None and faces._image_landmarker is not None
    faces.close()
    # no private threading API, no module-level store of landmarkers
    names = {n.attr for n in ast.walk(ast.parse(inspect.getsource(visual))) if isinstance(n, ast.Attribute)}
    assert "_register_atexit" not in names
