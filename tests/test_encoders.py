"""The emotion-aware encoders (face CNN, Whisper voice states, fine-tuned MiniLM): shapes, masks, offline
loading from ``assets/``, and clear errors for a missing or wrong weight file. Small and fast (a few seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tailor_core.features import FeatureError
from tailor_core.features import face_expression as FE
from tailor_core.features import text_emotion as TE
from tailor_core.features import visual as V
from tailor_core.features import voice_states as VS
from tailor_core.features.media import decode_audio
from tailor_core.readouts import VOICE_CLASSES, VoiceReadout, voice_vector
from tailor_core.resources import ResourceError

FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.timeout(120)


# ------------------------------------------------------------------------------------------------------ face
def synthetic_landmarks(cx: float, cy: float, iod: float, angle_deg: float = 0.0) -> np.ndarray:
    """478 landmarks with only the eye and mouth corners placed (a level face of inter-ocular ``iod``)."""
    lm = np.zeros((478, 2), np.float32)
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = {33: (-0.6, 0), 133: (-0.4, 0), 362: (0.4, 0), 263: (0.6, 0), 61: (-0.3, 1.0), 291: (0.3, 1.0)}
    for i, (x, y) in pts.items():
        lm[i] = np.array([cx, cy]) + rot @ (np.array([x, y]) * iod * 2)
    return lm


def test_alignment_puts_the_eyes_at_the_canonical_place() -> None:
    lm = synthetic_landmarks(200, 150, 40, angle_deg=12)
    m = FE.alignment_matrix(lm)
    eye_mid = (lm[[33, 133, 362, 263]].mean(0))
    x, y = m[:, :2] @ eye_mid + m[:, 2]
    assert abs(x - FE.CROP_SIDE / 2) < 1e-6 and abs(y - FE.EYE_Y * FE.CROP_SIDE) < 1e-6
    le, re = m[:, :2] @ lm[[33, 133]].mean(0), m[:, :2] @ lm[[362, 263]].mean(0)
    assert abs(le[1] - re[1]) < 1e-6  # eyes levelled


@pytest.mark.parametrize("shape", [(480, 640, 3), (480, 640)])
def test_align_face_shapes(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    lm = synthetic_landmarks(320, 220, 60)
    crop = FE.align_face(img, lm)
    assert crop.shape == (FE.CROP_SIDE, FE.CROP_SIDE) and crop.dtype == np.uint8
    assert FE.align_face(img, lm, FE.CACHE_SIDE).shape == (FE.CACHE_SIDE, FE.CACHE_SIDE)


@pytest.fixture(scope="module")
def face_model() -> FE.FaceExpressionModel:
    return FE.FaceExpressionModel().load()


def test_face_model_loads_offline_and_gives_embeddings_and_probabilities(face_model) -> None:
    e, p = face_model.forward(np.zeros((3, FE.CROP_SIDE, FE.CROP_SIDE), np.uint8))
    assert e.shape == (3, FE.EMBED_DIM) and p.shape == (3, FE.N_CLASSES)
    assert np.allclose(p.sum(1), 1, atol=1e-5) and np.isfinite(e).all()


def test_face_features_on_a_real_face(face_model) -> None:
    from tailor_core.features.visual import FaceAnalyzer

    img = np.asarray(Image.open(FIXTURES / "single_face.jpg").convert("RGB"))
    det, rgb = FaceAnalyzer().still_detection(img)
    assert det.base is not None and det.landmarks.shape == (478, 2)
    f = face_model.features(rgb, det.landmarks)
    assert f.shape == (FE.EXPR_DIM,) and f.dtype == np.float32


def test_face_weights_missing_or_wrong_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="missing"):
        FE.FaceExpressionModel(tmp_path / FE.WEIGHTS_FILENAME).load()
    bad = tmp_path / FE.WEIGHTS_FILENAME
    bad.write_bytes(b"not a model")
    shutil.copy(FE.default_weights_path().with_name(FE.CONFIG_FILENAME), tmp_path / FE.CONFIG_FILENAME)
    with pytest.raises(ResourceError, match="damaged"):
        FE.FaceExpressionModel(bad).load()
    with pytest.raises(FeatureError, match="could not be read"):
        FE.FaceExpressionModel(bad, expected_sha256="").load()  # hash check off: the content is still checked


# ----------------------------------------------------------------------------------------------------- voice
def test_pool_steps_means_and_masks() -> None:
    states = np.arange(60, dtype=np.float32)[:, None].repeat(4, 1)  # 60 frames = 1.2 s
    vec, mask = VS.pool_steps(states, 4)
    assert vec.shape == (4, 4) and mask.tolist() == [True, True, True, False]
    assert vec[0, 0] == pytest.approx(12.0) and vec[2, 0] == pytest.approx(54.5)
    vec, mask = VS.pool_steps(states[:10], 2, first_frame=20)  # frames 20..29 straddle steps 0 and 1
    assert mask.tolist() == [True, True] and vec[0, 0] == pytest.approx(2.0)


@pytest.fixture(scope="module")
def whisper():
    from tailor_core.features.speech import SpeechRecognizer

    return SpeechRecognizer(cpu_threads=1).load()._model


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return decode_audio(FIXTURES / "ravdess_happy_kids.mp4", 10.0)[0]


def test_encoder_states_cover_the_real_audio_only(whisper, speech: np.ndarray) -> None:
    s = VS.encoder_states(whisper, speech[:16000])
    assert s.shape == (50, VS.AUDIO_DIM) and np.isfinite(s).all()
    assert VS.encoder_states(whisper, speech[:16000], pad_seconds=0).shape == (50, VS.AUDIO_DIM)
    long = np.concatenate([speech] * 4)[: 12 * 16000]  # 12 s in 10 s chunks: frames stay on the 20 ms grid
    assert VS.encoder_states(whisper, long, pad_seconds=10).shape == (600, VS.AUDIO_DIM)
    vec, mask = VS.clip_voice_features(whisper, speech)
    assert vec.shape[1] == VS.AUDIO_DIM and mask.all()
    assert VS.encoder_states(whisper, np.zeros(100, np.float32)).shape == (0, VS.AUDIO_DIM)


def test_encoder_pass_offers_the_window_only_when_transcription_starts_with_it(whisper, speech) -> None:
    states, window = VS.encoder_pass(whisper, speech)
    assert window is not None and np.allclose(np.asarray(window)[0][: len(states)], states)
    assert VS.encoder_pass(whisper, speech, pad_seconds=20.0)[1] is None  # a live window is not Whisper's 30 s
    long = np.concatenate([speech] * 10)[: 31 * 16000]  # its first chunk is cut from the audio
    assert VS.encoder_pass(whisper, long)[1] is None
    assert VS.encoder_pass(whisper, np.zeros(100, np.float32))[1] is None


def test_two_phase_states_keep_a_10_ms_shift_from_moving_the_voice(whisper, speech: np.ndarray) -> None:
    y = speech[: 2 * 16000]
    shifted = np.concatenate([np.zeros(VS.HALF_STATE, np.float32), y])  # 10 ms of silence in front
    one, one_shifted = VS.encoder_states(whisper, y), VS.encoder_states(whisper, shifted)
    two, two_shifted = VS.two_phase_states(whisper, y), VS.two_phase_states(whisper, shifted)
    assert two.shape == one.shape and two.dtype == np.float32 and np.isfinite(two).all()
    assert np.allclose(VS.two_phase_states(whisper, y, one), two)  # the first pass can be handed in

    def moved(a: np.ndarray, b: np.ndarray) -> float:  # step means, 4 steps, relative change
        pa, pb = VS.pool_steps(a, 4)[0], VS.pool_steps(b, 4)[0]
        return float(np.linalg.norm(pa - pb) / np.linalg.norm(pa))

    assert moved(two, two_shifted) < 0.6 * moved(one, one_shifted)
    assert VS.two_phase_states(whisper, np.zeros(100, np.float32)).shape == (0, VS.AUDIO_DIM)
    assert VS.FILE_PHASES == 2 and np.allclose(VS.file_states(whisper, y, one), two)


def test_a_file_voice_is_encoded_in_pieces_cut_at_its_pauses(whisper, speech: np.ndarray, monkeypatch) -> None:
    """Two takes back to back (the first one's trailing and the second's leading silence make a pause of over
    1 s): the file's voice is cut once, inside that pause, and each piece is encoded alone; one take is not cut.
    Without words no whole-clip pass is made beside the pieces."""
    n = len(speech) - len(speech) % VS.FRAME_SAMPLES
    two = np.concatenate([speech[:n], speech[:n]])
    cuts = VS.pause_cuts(two)
    assert len(cuts) == 3 and cuts[0] == 0 and cuts[-1] == len(two) and cuts[1] % VS.FRAME_SAMPLES == 0
    loud = np.abs(speech).max()
    assert np.abs(two[cuts[1] - 1600: cuts[1] + 1600]).max() < 0.1 * loud  # 0.1 s either side of the cut is quiet
    states = VS.file_states(whisper, two, pause_seconds=VS.PAUSE_SECONDS)
    assert states.shape == (len(two) // VS.FRAME_SAMPLES, VS.AUDIO_DIM)
    pieces = [VS.two_phase_states(whisper, two[a:b], pad_seconds=VS.PIECE_PAD_SECONDS)
              for a, b in zip(cuts, cuts[1:], strict=False)]
    assert np.allclose(states, np.concatenate(pieces), atol=1e-5)
    assert not np.allclose(states, VS.file_states(whisper, two), atol=1e-2)  # one pass over both reads otherwise
    assert VS.pause_cuts(speech) == [0, len(speech)] and VS.pause_cuts(two, 0.0) == [0, len(two)]
    one = VS.encoder_states(whisper, speech)  # a take that is not cut reuses the whole clip's pass
    assert np.allclose(VS.file_states(whisper, speech, one, VS.PAUSE_SECONDS), VS.file_states(whisper, speech, one))

    from tailor_core.features import FeatureExtractor

    fx = FeatureExtractor(transcribe=False)
    assert fx.voice_pause_seconds == VS.PAUSE_SECONDS  # on by default (load_model(voice_pieces=False) turns it off)
    monkeypatch.setattr(fx.speech, "listen", lambda *a, **k: pytest.fail("a whole-clip pass with no words wanted"))
    bundle = fx.audio(two, 16000)  # the file path pools the pieces' states
    assert np.allclose(bundle.audio[bundle.audio_mask], VS.pool_steps(states, len(bundle))[0][bundle.audio_mask],
                       atol=1e-4)
    bundle = fx.audio(speech, 16000)  # not cut: its one pass is made by file_states itself
    assert np.allclose(bundle.audio[bundle.audio_mask],
                       VS.pool_steps(VS.file_states(whisper, speech, one), len(bundle))[0][bundle.audio_mask],
                       atol=1e-4)


def test_voice_probe_pools_only_the_frames_the_vad_calls_speech(speech: np.ndarray) -> None:
    from training.probe_voice import speech_frames

    # 2 s of silence, then the clip: the VAD (speech padded by 0.4 s) must leave the first 1.5 s out
    y = np.concatenate([np.zeros(2 * 16000, np.float32), speech])
    n = len(y) // VS.FRAME_SAMPLES
    keep = speech_frames(y, n)
    assert keep.shape == (n,) and keep.dtype == bool
    assert not keep[: int(1.5 / VS.HOP_SECONDS)].any() and 0.2 < keep.mean() < 0.9
    # no speech found: every frame is kept rather than none
    assert speech_frames(np.zeros(16000, np.float32), 50).all()


# ------------------------------------------------------------------------------------------------------ text
@pytest.fixture(scope="module")
def text_model() -> TE.EmotionTextEncoder:
    return TE.EmotionTextEncoder().load()


def test_emotion_text_encoder_keeps_the_text_api(text_model) -> None:
    words, vecs = text_model.word_vectors("I am so happy today!")
    assert words == ["I", "am", "so", "happy", "today!"] and vecs.shape == (5, TE.TEXT_DIM)
    p = text_model.emotion_probs("I am so happy today!")
    assert set(p) == set(TE.LABELS) and max(p, key=p.get) == "joy"


def test_text_weights_missing_or_wrong_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="missing"):
        TE.EmotionTextEncoder(weights_path=tmp_path / TE.WEIGHTS_FILENAME).load()
    bad = tmp_path / TE.WEIGHTS_FILENAME
    bad.write_bytes(b"garbage")
    shutil.copy(TE.default_weights_path().with_name(TE.CONFIG_FILENAME), tmp_path / TE.CONFIG_FILENAME)
    with pytest.raises(ResourceError, match="damaged"):
        TE.EmotionTextEncoder(weights_path=bad).load()
    with pytest.raises(FeatureError, match="could not be read"):
        TE.EmotionTextEncoder(weights_path=bad, expected_sha256="").load()



def test_expression_model_reads_a_face_and_its_mirror_image_alike(face_model) -> None:
    # forward averages the crop and its mirror image, so a mirrored face must give the same reading
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, FE.CROP_SIDE, FE.CROP_SIDE), dtype=np.uint8)
    e, p = face_model.forward(crops)
    e2, p2 = face_model.forward(crops[:, :, ::-1])
    assert np.allclose(p, p2, atol=1e-5) and np.allclose(e, e2, atol=1e-4)


def test_block_codec_is_what_a_real_jpeg_encoder_does_to_a_grey_face() -> None:
    import io

    import torch

    from training.train_face import block_codec

    rng = np.random.default_rng(0)
    im = np.clip(rng.normal(128, 40, (60, 60)), 0, 255).astype(np.uint8)  # detail at every frequency
    qualities = (90.0, 50.0, 15.0)
    out = block_codec(torch.from_numpy(im).float()[None, None].repeat(3, 1, 1, 1) / 255, torch.tensor(qualities))
    assert out.shape == (3, 1, 60, 60) and float(out.min()) >= 0 and float(out.max()) <= 1
    for q, o in zip(qualities, out[:, 0].numpy() * 255):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, "JPEG", quality=int(q))
        jpeg = np.asarray(Image.open(buf)).astype(np.float64)
        loss = np.abs(jpeg - im).mean()
        assert np.abs(o - jpeg).mean() < 0.15 * loss + 1.5  # ours vs libjpeg: far closer than either to the input
        assert abs(np.abs(o - im).mean() - loss) < 0.1 * loss + 0.5  # and it loses as much


def test_video_augmentation_changes_the_face_but_not_the_plain_recipe() -> None:
    import torch

    from training.train_face import augment

    x = torch.rand(16, 1, FE.CACHE_SIDE, FE.CACHE_SIDE, generator=torch.Generator().manual_seed(1))
    plain = augment(x, torch.Generator().manual_seed(0))
    again = augment(x, torch.Generator().manual_seed(0), video=0.0)
    video = augment(x, torch.Generator().manual_seed(0), video=1.0)
    assert torch.equal(plain, again) and plain.shape == video.shape == (16, 1, FE.CROP_SIDE, FE.CROP_SIDE)
    assert float(video.min()) >= 0 and float(video.max()) <= 1
    assert float((video - plain).abs().mean()) > 0.02  # light, blur, codec and a head turn moved the pixels
    assert torch.equal(video, augment(x, torch.Generator().manual_seed(0), video=1.0))  # seeded
    half = augment(x, torch.Generator().manual_seed(0), video=0.5)
    moved = (half - plain).abs().flatten(1).mean(1) > 1e-6
    assert 0 < int(moved.sum()) < 16  # a share of the images, not all or none


def test_small_still_retries_map_landmarks_back_to_the_image() -> None:
    from tailor_core.features import visual as V

    img = np.asarray(Image.open(FIXTURES / "single_face.jpg").convert("RGB"))
    fa = V.FaceAnalyzer()
    ref, rgb = fa.still_detection(img)
    x0, y0 = ref.landmarks.min(0).astype(int)
    x1, y1 = ref.landmarks.max(0).astype(int)
    crop = np.ascontiguousarray(rgb[max(y0 - 10, 0): y1 + 10, max(x0 - 10, 0): x1 + 10])
    small = np.asarray(Image.fromarray(crop).resize((64, 64)))  # a FER-sized still
    scale = np.array([64 / crop.shape[1], 64 / crop.shape[0]], np.float32)
    expected = (ref.landmarks - [max(x0 - 10, 0), max(y0 - 10, 0)]) * scale
    found = 0
    for variant in ((V.BORDER_FRACTION, 0, False), *V.SMALL_RETRIES):
        det = fa.detect_prepared(small, variant)
        if det.base is not None:
            found += 1
            # landmarks land on the small image's face: within 2 px on average of the large image's, scaled
            assert np.abs(det.landmarks - expected).mean() < 2.0, variant
    assert found >= 3


def test_listen_encodes_a_short_clip_once_for_voice_and_words(monkeypatch, speech: np.ndarray) -> None:
    # one Whisper encoder pass per <= 30 s clip serves both the voice features and the transcript, handed to the
    # decoder explicitly: nothing is cached on the model between calls
    from faster_whisper import WhisperModel

    from tailor_core.features.speech import SpeechRecognizer

    sr = SpeechRecognizer().load()
    calls = []
    real = WhisperModel.encode

    def counting(self, features):
        calls.append(features.shape)
        return real(self, features)

    monkeypatch.setattr(WhisperModel, "encode", counting)
    heard = sr.listen(speech)
    assert [w[0].lower() for w in heard.words][:2] == ["kids", "are"] and len(calls) == 1
    assert np.array_equal(heard.states, VS.encoder_states(sr.model, speech)) and len(calls) == 2
    assert sr.transcribe(speech) == heard.words and len(calls) == 3  # on its own: a pass of its own, same words
    assert sr.listen(speech, transcribe=False).words == [] and len(calls) == 4
    assert not [k for k in vars(sr.model) if "tailor" in k]  # the model object is never changed


def test_decoding_options_are_those_of_faster_whispers_transcribe(whisper, speech: np.ndarray) -> None:
    from tailor_core.features.speech import SpeechRecognizer

    sr = SpeechRecognizer(cpu_threads=1)
    _segments, info = whisper.transcribe(speech, language="en", beam_size=sr.options.beam_size, word_timestamps=True,
                                         vad_filter=False, condition_on_previous_text=False, temperature=0.0)
    assert sr._decoding(whisper)[1] == info.transcription_options


# ------------------------------------------------------------------------------------------------------ assets
@pytest.mark.parametrize("name, expected", [
    (V.MODEL_FILENAME, V.MODEL_SHA256),
    (FE.WEIGHTS_FILENAME, FE.WEIGHTS_SHA256),
    (TE.WEIGHTS_FILENAME, TE.WEIGHTS_SHA256),
])
def test_assets_readme_gives_each_shipped_files_real_size_and_hash(name: str, expected: str) -> None:
    """The committed file, the hash the loader checks and the size/hash ``assets/README.md`` states agree, so the
    licence notes describe the files that actually ship (they had drifted after retraining)."""
    import hashlib

    path = Path(__file__).parents[1] / "assets" / name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == expected
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
    assert f"`{digest}`" in section
    assert f"{path.stat().st_size:,} bytes" in section


# ----------------------------------------------------------------------------------------------- voice readout
def test_voice_readout_loads_offline_and_gives_probabilities() -> None:
    rows = np.random.default_rng(0).normal(size=(7, VS.AUDIO_DIM)).astype(np.float32)
    x = voice_vector(rows)
    assert x.shape == (2 * VS.AUDIO_DIM,) and np.allclose(x[: VS.AUDIO_DIM], rows.mean(0), atol=1e-6)
    assert np.allclose(x[VS.AUDIO_DIM:], rows.std(0), atol=1e-6)
    readout = VoiceReadout().load()  # the shipped file, hash-checked
    assert readout.config["classes"] == list(VOICE_CLASSES) and readout.config["pad30"]["acc"] > 0.5
    p = readout.probs(rows)
    assert list(p) == list(VOICE_CLASSES) and sum(p.values()) == pytest.approx(1.0) and min(p.values()) >= 0
    assert readout.probs(rows[:1]) != p  # the input matters


def test_voice_readout_missing_wrong_or_mismatched_give_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    from safetensors.numpy import save

    from tailor_core import readouts as R

    with pytest.raises(ResourceError, match="missing"):
        VoiceReadout(tmp_path / R.WEIGHTS_FILENAME).load()
    shutil.copy(R.default_weights_path().with_name(R.CONFIG_FILENAME), tmp_path / R.CONFIG_FILENAME)
    bad = tmp_path / R.WEIGHTS_FILENAME
    bad.write_bytes(b"not a model")
    with pytest.raises(ResourceError, match="damaged"):
        VoiceReadout(bad).load()
    with pytest.raises(FeatureError, match="could not be read"):
        VoiceReadout(bad, expected_sha256="").load()  # hash check off: the content is still checked
    z = np.zeros(4, np.float32)
    bad.write_bytes(save({"mean": z, "scale": z, "coef": np.zeros((7, 4), np.float32), "intercept": z[:3]}))
    with pytest.raises(FeatureError, match="do not match"):
        VoiceReadout(bad, expected_sha256="").load()
