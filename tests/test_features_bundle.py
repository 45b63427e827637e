"""Fast tests of the feature contract that need no model: FeatureBundle, the grid, audio features, media
errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tailor_core.features import (
    AUDIO_DIM,
    IMAGE_STEPS,
    STEP_SECONDS,
    TEXT_DIM,
    VISUAL_DIM,
    FeatureBundle,
    FeatureError,
    Word,
)
from tailor_core.features.audio import resample_to_16k, to_mono_float
from tailor_core.features.errors import EmptyInputError, MediaDecodeError
from tailor_core.features.grid import n_steps_for, step_of
from tailor_core.features.media import decode_audio
from tailor_core.features.text import spread_evenly
from tailor_core.features.visual import FrameSampler, euler_from_matrix
from training.acoustic import ACOUSTIC_DIM, acoustic_features

FIXTURES = Path(__file__).parent / "fixtures"
RNG = np.random.default_rng(0)


def make_bundle(n: int, face: bool = True, audio: bool = True, words: bool = True) -> FeatureBundle:
    b = FeatureBundle.empty(n)
    b.visual[:] = RNG.random((n, VISUAL_DIM))
    b.visual_mask[:] = face
    b.audio[:] = RNG.standard_normal((n, AUDIO_DIM))
    b.audio_mask[:] = audio
    if words:
        b.text[::2] = RNG.standard_normal((len(range(0, n, 2)), TEXT_DIM))
        b.text_mask[::2] = True
        b.words = [Word(f"w{i}", i * STEP_SECONDS, i * STEP_SECONDS + 0.3, i) for i in range(0, n, 2)]
    b.duration = n * STEP_SECONDS
    b.source = "synthetic"
    return FeatureBundle(**vars(b))  # re-run __post_init__ (zeroes masked rows)


def test_contract_constants() -> None:
    assert STEP_SECONDS == 0.5 and IMAGE_STEPS == 6 and TEXT_DIM == 384
    assert AUDIO_DIM == 384 and VISUAL_DIM == 55 + 128 + 8  # Whisper states; blendshapes + pose + FER+ net
    assert issubclass(FeatureError, ValueError)
    assert issubclass(MediaDecodeError, FeatureError) and issubclass(EmptyInputError, FeatureError)


def test_grid() -> None:
    assert n_steps_for(0.0) == 0
    assert n_steps_for(0.01) == 1
    assert n_steps_for(1.0) == 2
    assert n_steps_for(1.05) == 2  # a < 0.1 s tail is dropped
    assert n_steps_for(1.2) == 3
    assert step_of(0.49) == 0 and step_of(0.5) == 1 and step_of(1.5) == 3


def test_masked_rows_are_zero_and_dtypes() -> None:
    b = make_bundle(5)
    b2 = FeatureBundle(
        times=b.times,
        text=np.ones((5, TEXT_DIM)),
        text_mask=np.zeros(5, bool),
        audio=b.audio,
        audio_mask=b.audio_mask,
        visual=b.visual,
        visual_mask=b.visual_mask,
    )
    assert b2.text.dtype == np.float32 and not b2.text.any()
    assert b2.text_mask.dtype == bool and len(b2) == 5


def test_window() -> None:
    b = make_bundle(130)
    w = b.window(60, 120)
    assert len(w) == 60 and w.times[0] == pytest.approx(30.0)
    assert all(0 <= x.step < 60 for x in w.words) and w.words[0].text == "w60" and w.words[0].step == 0
    np.testing.assert_array_equal(w.audio, b.audio[60:120])
    assert len(b.window(120, 200)) == 10 and len(b.window(5, 2)) == 0


def test_with_length_pads_masked_and_crops() -> None:
    b = make_bundle(7)
    p = b.with_length(10)
    assert len(p) == 10 and not p.visual_mask[7:].any() and not p.audio_mask[7:].any()
    assert not p.visual[7:].any()
    np.testing.assert_allclose(np.diff(p.times), STEP_SECONDS)
    c = b.with_length(3)
    assert len(c) == 3 and all(w.step < 3 for w in c.words)


def test_merge_takes_each_modality_where_present() -> None:
    face = make_bundle(6, face=True, audio=False, words=False)
    text = make_bundle(4, face=False, audio=False, words=True)
    m = FeatureBundle.merge(face, text)
    assert len(m) == 6
    assert m.visual_mask.all() and not m.audio_mask.any()
    np.testing.assert_array_equal(m.text_mask[:4], text.text_mask)
    assert not m.text_mask[4:].any()
    np.testing.assert_array_equal(m.visual, face.visual)
    assert m.transcript == text.transcript


def test_spread_evenly() -> None:
    v = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    out, mask = spread_evenly(v, 2)
    assert out.shape == (2, 3) and mask.all()
    np.testing.assert_allclose(out[0], v[:2].mean(0))
    np.testing.assert_allclose(out[1], v[2:].mean(0))
    out, mask = spread_evenly(v[:2], 4)
    assert mask.sum() == 2
    out, mask = spread_evenly(np.zeros((0, TEXT_DIM)), 3)
    assert out.shape == (3, TEXT_DIM) and not mask.any()


def test_frame_sampler_10fps_from_30fps() -> None:
    s = FrameSampler(10.0)
    kept = [i for i in range(90) if s.take(i / 29.97)]
    assert 29 <= len(kept) <= 31


def test_euler_identity_and_yaw() -> None:
    assert euler_from_matrix(np.eye(4)) == pytest.approx((0.0, 0.0, 0.0))
    a = 0.3
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    yaw, pitch, roll = euler_from_matrix(ry)
    assert (
        yaw == pytest.approx(a) and pitch == pytest.approx(0, abs=1e-9) and roll == pytest.approx(0, abs=1e-9)
    )


# ----------------------------------------------------------------------------------------------- audio
# features
def tone(sr: int, seconds: float, f0: float = 200.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def test_acoustic_shape_pitch_and_silence() -> None:
    y = tone(16000, 2.0, 200.0)
    f = acoustic_features(y)
    assert f.shape == (4, ACOUSTIC_DIM) and np.isfinite(f).all()
    assert f[1, 27] == pytest.approx(np.log2(200.0), abs=0.05)  # mean log2 F0
    assert f[1, 28] > 0.9  # voiced
    s = acoustic_features(np.zeros(16000, np.float32))
    assert s.shape == (2, ACOUSTIC_DIM) and np.isfinite(s).all()
    assert s[:, 28].max() == 0.0 and s[:, 27].max() == 0.0  # silence: no voicing, no pitch
    assert acoustic_features(np.zeros(10, np.float32)).shape == (1, ACOUSTIC_DIM)


@pytest.mark.parametrize("sr", [8000, 44100, 96000])
def test_any_sample_rate_gives_same_grid(sr: int) -> None:
    y = resample_to_16k(tone(sr, 3.0), sr)
    assert abs(len(y) - 48000) <= 2
    f = acoustic_features(y)
    assert f.shape == (6, ACOUSTIC_DIM)
    assert f[2, 27] == pytest.approx(np.log2(200.0), abs=0.05)


def test_to_mono_float_layouts() -> None:
    mono = (tone(16000, 1.0) * 32767).astype(np.int16)
    stereo_nc = np.stack([mono, mono], axis=1)
    stereo_cn = stereo_nc.T.copy()
    a = to_mono_float(mono)
    np.testing.assert_allclose(to_mono_float(stereo_nc), a, atol=1e-6)
    np.testing.assert_allclose(to_mono_float(stereo_cn), a, atol=1e-6)
    np.testing.assert_allclose(to_mono_float(mono.astype(np.int32) << 16), a, atol=1e-6)
    assert a.dtype == np.float32 and np.abs(a).max() <= 1.0
    with pytest.raises(FeatureError):
        to_mono_float(np.zeros(0, np.int16))


# ------------------------------------------------------------------------------------------------ media
# errors
def test_non_media_and_empty_files_raise(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(RNG.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 100)
    for p in (junk, empty, text, tmp_path / "missing.mp4", tmp_path):
        with pytest.raises(FeatureError) as e:
            decode_audio(p, 10.0)
        assert p.name in str(e.value) or "empty" in str(e.value)
    with pytest.raises(EmptyInputError):
        decode_audio(empty, 10.0)


def test_decode_audio_of_fixture() -> None:
    y, truncated = decode_audio(FIXTURES / "ravdess_happy_kids.mp4", 600)
    assert y is not None and not truncated and 3.0 < len(y) / 16000 < 3.5
    y1, truncated = decode_audio(FIXTURES / "ravdess_happy_kids.mp4", 1.0)
    assert truncated and len(y1) == 16000


def test_masking_a_copy_leaves_the_original_features():
    """``dataclasses.replace`` with a mask switched off zeroes the new bundle's steps, not the original's (they share
    arrays): the predictor's face guard and every benchmark that masks a modality rely on it."""
    from dataclasses import replace

    b = FeatureBundle.empty(3)
    b = replace(b, visual=np.ones_like(b.visual), visual_mask=np.ones(3, bool))
    masked = replace(b, visual_mask=np.array([True, False, True]))
    assert masked.visual[1].sum() == 0 and masked.visual[0].sum() > 0
    assert b.visual.sum() == b.visual.size, "the original bundle's features must be untouched"
