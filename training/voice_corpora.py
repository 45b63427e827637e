"""Speech corpora for the voice readout, mapped to its seven classes, and their Whisper encoder states cached.

Corpora (``../shared/data``; see its README for licences: TESS is CC BY-NC-ND, EmoDB research-only; nothing of
either is shipped, only, if ever, weights trained on them):

* ``ravdess``: RAVDESS speech, ``Actor_NN/MM-VV-EE-II-SS-RR-AA.flac``; calm counted as neutral; speaker = actor.
* ``tess``: TESS, ``SPK_word_emotion.flac`` (two speakers, OAF / YAF); ``ps`` (pleasant surprise) = surprise.
* ``emodb``: EmoDB, ``SSTTTEV.flac`` (ten German speakers); no surprise; boredom (L) counted as neutral ("no
  emotion among the six", as RAVDESS's calm), its files flagged so a report can also leave them out.

Classes (``CLASSES``, as ``probe_voice``): neutral, happy, sad, angry, fearful, disgust, surprised (the voice readout's
seven emotions). The encoder states of each corpus are cached as ``CACHE/<corpus>/whisper_<mode>.npz`` (the
layout ``probe_voice.cache_states`` writes: ``states`` float16 concatenated, ``lens``, ``files``), so that the
readout's pooling can change without re-encoding; ``--aug-share`` caches one channel-augmented copy (``augment``:
gain, noise, codec, leading silence) of a share of the files as ``whisper_<mode>_aug.npz``, or with ``--aug-kind
speed`` one speed-perturbed copy (``perturb_speed``) as ``whisper_<mode>_speed.npz``. The leave-one-corpus-out
table (``training.voice_transfer``, docs/encoders.md "Voice across corpora") was measured on these, seed 0:

    OMP_NUM_THREADS=1 python -m training.voice_corpora --data ../shared/data --cache /work/enc-cache \
        --corpora ravdess,emodb,tess --modes nopad --every tess=4                    # ~8 min (2,615 files)
    OMP_NUM_THREADS=1 python -m training.voice_corpora --data ../shared/data --cache /work/enc-cache \
        --corpora ravdess,emodb,tess --modes nopad --every tess=4 --aug-share 0.5 --seed 0   # ~12 min (1,308)

``nopad`` (unpadded: the encoder reads only the real audio) costs about a tenth of the app's 30 s window on a
2-5 s file; ``pad30`` (a file's window) and ``pad20`` (the live one) are what a shipped readout must be fitted on,
at about 0.5 s a file on a free core (1.4 s on the shared, busy one of 2026-12-06, which is why the table was
measured unpadded). TESS is encoded for every 4th file only (700 of 2,800: both speakers, 100 per emotion, 50 of
the 200 words): two speakers saying one carrier phrase are very redundant.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the voice readout's seven emotions, as in probe_voice / train_voice_readout (kept here so that this module
# needs neither of them)
CLASSES = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")
#: each emotion class's TAILOR label (neutral: no label)
LABEL_OF_CLASS = {"happy": "happy", "sad": "sad", "angry": "anger", "fearful": "fear", "disgust": "disgust",
                  "surprised": "surprise"}
EMOTION_TO_CLASS = {1: 0, 2: 0, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5, 8: 6}  # RAVDESS EE; calm (02) -> neutral
MODES = {"nopad": 0.0, "pad10": 10.0, "pad20": 20.0, "pad30": 30.0}  # log-mel padding before the encoder

TESS_CLASS = {"neutral": 0, "happy": 1, "sad": 2, "angry": 3, "fear": 4, "disgust": 5, "ps": 6}
EMODB_CLASS = {"N": 0, "L": 0, "F": 1, "T": 2, "W": 3, "A": 4, "E": 5}  # L boredom -> neutral
CORPORA = ("ravdess", "tess", "emodb")


@dataclass
class Item:
    path: Path
    label: int  # index into CLASSES
    speaker: str  # "<corpus>:<id>"
    extra: str = ""  # "boredom" for EmoDB's L files


def list_corpus(data: Path, corpus: str) -> list[Item]:
    """The labelled files of one corpus under ``data`` (the ``../shared/data`` folder), sorted by path."""
    out: list[Item] = []
    if corpus == "ravdess":
        for f in sorted((data / "ravdess_speech").glob("Actor_*/*.flac")):
            p = f.stem.split("-")
            out.append(Item(f, EMOTION_TO_CLASS[int(p[2])], f"ravdess:{int(p[6])}"))
    elif corpus == "tess":
        for f in sorted((data / "tess").glob("*.flac")):
            spk, _word, emo = f.stem.split("_")
            out.append(Item(f, TESS_CLASS[emo.lower()], f"tess:{spk}"))
    elif corpus == "emodb":
        for f in sorted((data / "emodb").glob("*.flac")):
            e = f.stem[5]
            out.append(Item(f, EMODB_CLASS[e], f"emodb:{f.stem[:2]}", "boredom" if e == "L" else ""))
    else:
        raise ValueError(f"unknown corpus {corpus!r} (one of {CORPORA})")
    if not out:
        raise FileNotFoundError(f"no files of {corpus} under {data}")
    return out


def codec_roundtrip(y16k: np.ndarray, codec: str, container: str, bitrate: int, rate: int) -> np.ndarray:
    """16 kHz mono float32 audio encoded with PyAV (``codec`` in ``container`` at ``rate`` Hz and ``bitrate``) and
    decoded again, at ``rate`` (the codec's own delay and padding kept, as a browser's or phone's would be)."""
    import io

    import av
    import soxr

    y = y16k if rate == 16_000 else soxr.resample(y16k, 16_000, rate, quality="HQ").astype(np.float32)
    pcm = np.clip(y * 32767.0, -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        st = out.add_stream(codec, rate=rate)
        st.bit_rate = bitrate
        st.layout = "mono"
        fsize = st.codec_context.frame_size or 1024
        for i in range(0, len(pcm), fsize):
            frame = av.AudioFrame.from_ndarray(pcm[None, i: i + fsize], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    buf.seek(0)
    chunks = []
    with av.open(buf, "r") as c:
        res = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in c.decode(c.streams.audio[0]):
            chunks += [f.to_ndarray().reshape(-1) for f in res.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in res.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


AUG_CODECS = (("aac", "mp4", 64_000, 48_000), ("aac", "mp4", 32_000, 16_000), ("libmp3lame", "mp3", 64_000, 44_100),
              ("libopus", "ogg", 24_000, 48_000), ("libopus", "ogg", 16_000, 16_000))


def augment(y16k: np.ndarray, seed: int) -> np.ndarray:
    """One channel-augmented copy of 16 kHz audio: gain -20..+6 dB (clipped at full scale), then with
    probability 0.7 white or pink noise at 5-30 dB SNR, then with probability 0.7 a lossy codec round trip
    (``AUG_CODECS``) back to 16 kHz, then 0-40 ms of leading silence."""
    import soxr

    rng = np.random.default_rng(seed)
    y = np.asarray(y16k, np.float32) * np.float32(10 ** (rng.uniform(-20, 6) / 20))
    if rng.random() < 0.7:
        n = rng.normal(size=len(y))
        if rng.random() < 0.5:  # pink
            spec = np.fft.rfft(n) / np.sqrt(np.maximum(np.arange(len(n) // 2 + 1), 1))
            n = np.fft.irfft(spec, len(y))
        p_sig = float(np.mean(y ** 2)) + 1e-12
        n = n * np.sqrt(p_sig / (np.mean(n ** 2) + 1e-12) / 10 ** (rng.uniform(5, 30) / 10))
        y = y + n.astype(np.float32)
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    if rng.random() < 0.7:
        spec = AUG_CODECS[rng.integers(len(AUG_CODECS))]
        z = codec_roundtrip(y, *spec)
        y = z if spec[3] == 16_000 else soxr.resample(z, spec[3], 16_000, quality="HQ").astype(np.float32)
    lead = int(rng.uniform(0, 0.04) * 16_000)
    return np.concatenate([np.zeros(lead, np.float32), y]).astype(np.float32)


#: how far ``perturb_speed`` resamples: a factor uniform in this range
SPEED_RANGE = (0.85, 1.15)


def perturb_speed(y16k: np.ndarray, seed: int) -> np.ndarray:
    """One speed-perturbed copy of 16 kHz audio: resampled by a factor uniform in ``SPEED_RANGE`` (above 1: faster
    and higher), which moves the pitch, the formants (the apparent vocal-tract length) and the tempo together, as a
    shorter or a longer speaker would (Ko et al. 2015's speed perturbation, with a continuous factor)."""
    import soxr

    factor = float(np.random.default_rng(seed).uniform(*SPEED_RANGE))
    # played at 16 kHz, audio resampled from 16 kHz * factor to 16 kHz lasts 1 / factor as long
    return soxr.resample(np.asarray(y16k, np.float32), 16_000 * factor, 16_000, quality="HQ").astype(np.float32)


#: the kinds of copies ``--aug-share`` can cache, and their cache tags
AUG_KINDS = {"channel": ("_aug", augment), "speed": ("_speed", perturb_speed)}


def cache_corpus(data: Path, cache: Path, corpus: str, mode: str, model=None, aug_share: float = 0.0,
                 seed: int = 0, every: int = 1, tag: str = "", aug_kind: str = "channel") -> Path:
    """Encode every file of ``corpus`` with ``MODES[mode]`` padding into ``cache/<corpus>/whisper_<mode>.npz``;
    with ``aug_share`` > 0 instead one :func:`augment` ed copy of that share of the files (every k-th file,
    seeded per file) into ``whisper_<mode>_aug.npz`` (``aug_kind="speed"``: :func:`perturb_speed`, into
    ``whisper_<mode>_speed.npz``). ``every`` > 1: only every ``every``-th file (sorted by
    name: for TESS, every speaker and emotion with a quarter of the words at 4). ``tag`` is put after the mode
    in the file name (another encoder's states: ``_base``)."""
    import soundfile as sf

    from tailor_core.features.grid import SAMPLE_RATE
    from tailor_core.features.voice_states import encoder_states

    aug_tag, aug_fn = AUG_KINDS[aug_kind]
    out = cache / corpus / f"whisper_{mode}{tag}{aug_tag if aug_share > 0 else ''}.npz"
    if out.exists():
        return out
    if model is None:
        from tailor_core.features.speech import SpeechRecognizer

        model = SpeechRecognizer(cpu_threads=1).model
    items = list_corpus(data, corpus)[::every]
    if aug_share > 0:
        items = items[:: max(1, round(1 / aug_share))]
    t0, states = time.time(), []
    for i, it in enumerate(items):
        y, sr = sf.read(it.path, dtype="float32")
        assert sr == SAMPLE_RATE and y.ndim == 1, it.path
        if aug_share > 0:
            y = aug_fn(y, seed * 1_000_003 + CORPORA.index(corpus) * 100_000 + i)
        states.append(encoder_states(model, y, pad_seconds=MODES[mode]).astype(np.float16))
        if i % 200 == 0:
            print(f"{corpus} {mode} {i}/{len(items)} {time.time() - t0:.0f}s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, states=np.concatenate(states), lens=np.array([len(s) for s in states]),
             files=np.array([it.path.name for it in items]))
    tmp.rename(out)
    print(f"{corpus} {mode}: {time.time() - t0:.0f}s for {len(items)} files", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--modes", default="nopad", help="comma list of windows: nopad, pad10, pad20, pad30")
    ap.add_argument("--aug-share", type=float, default=0.0,
                    help="> 0: cache one augmented copy of this share of each corpus instead (tag _aug)")
    ap.add_argument("--aug-kind", choices=sorted(AUG_KINDS), default="channel",
                    help="what --aug-share copies are: channel (gain, noise, codec; tag _aug) or speed "
                         "(perturb_speed; tag _speed)")
    ap.add_argument("--seed", type=int, default=0, help="the augmentation's seed")
    ap.add_argument("--every", default="tess=4", help="corpus=k: only every k-th file of that corpus")
    ap.add_argument("--whisper", type=Path, default=None,
                    help="another CTranslate2 Whisper model folder (default: the app's tiny.en); needs --tag")
    ap.add_argument("--tag", default="", help="put after the mode in the cache file names, e.g. _base")
    args = ap.parse_args(argv)
    assert len(CLASSES) == 7
    if args.whisper and not args.tag:
        ap.error("--whisper needs a --tag, so that its states are not cached under tiny.en's names")
    if args.whisper:
        from faster_whisper import WhisperModel

        model = WhisperModel(str(args.whisper), device="cpu", compute_type="int8", cpu_threads=1)
    else:
        from tailor_core.features.speech import SpeechRecognizer

        model = SpeechRecognizer(cpu_threads=1).model
    every = {k: int(v) for k, v in (kv.split("=") for kv in args.every.split(",") if kv)}
    for mode in args.modes.split(","):
        for corpus in args.corpora.split(","):
            cache_corpus(args.data, args.cache, corpus, mode, model, args.aug_share, args.seed,
                         every.get(corpus, 1), args.tag, args.aug_kind)


if __name__ == "__main__":
    main()
