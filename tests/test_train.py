"""Training end to end on a small file in the MOSEI aligned format with a planted multi-modal signal."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tailor_core import TAILOR, TailorConfig
from training import calibrate, evaluate, train
from training.data import DataError, load_aligned, load_unaligned


def make_mosei_like(path, n=(480, 120, 160), length=8, dims=(12, 10, 8), seed=0):
    """Labels need two modalities each: happy = text & audio cue, sad = visual & not text cue,
    anger = audio & visual cue. Cues sit in feature 0 of a modality, on top of noise."""
    rng = np.random.default_rng(seed)
    data = {}
    for split, count in zip(("train", "valid", "test"), n):
        z = rng.random((count, 3)) > 0.5
        feats = []
        for m, d in enumerate(dims):
            x = rng.normal(0, 1, (count, length, d)).astype(np.float32)
            x[:, :, 0] += np.where(z[:, m], 1.5, -1.5)[:, None]
            feats.append(x)
        feats[1][:, 0, 1] = -np.inf  # MOSEI's COVAREP has -inf values
        labels = np.stack([z[:, 0] & z[:, 1], z[:, 2] & ~z[:, 0], z[:, 1] & z[:, 2]], 1)
        tgt = [[1] + [4 + j for j in np.flatnonzero(row)] + [2] for row in labels]
        data[split] = {"src-text": feats[0], "src-audio": feats[1], "src-visual": feats[2], "tgt": tgt}
    torch.save(data, path)
    return data


def test_loader_reads_numpy_file_safely(tmp_path):
    make_mosei_like(tmp_path / "d.pt", n=(10, 5, 5))
    s = load_aligned(tmp_path / "d.pt")
    assert s["train"].text.shape == (10, 8, 12) and s["test"].labels.shape == (5, 6)
    assert torch.isfinite(s["train"].audio).all()
    assert set(s["train"].labels[:, 3:].unique().tolist()) == {0.0}


def test_summary_scores_average_the_apps_windows():
    """``evaluate.summary_scores`` cuts each example to its content and averages the app's windows over it."""
    from tailor_core import scoring
    from training.data import Split

    cfg = TailorConfig.debug()
    model = TAILOR(cfg).eval()
    g = torch.Generator().manual_seed(0)
    n, length = 3, 16
    x = [torch.randn(n, length, d, generator=g) for d in (cfg.text_dim, cfg.audio_dim, cfg.visual_dim)]
    masks = [torch.zeros(n, length, dtype=torch.bool) for _ in range(3)]
    masks[1][0, 3:10] = True  # example 0: voice on steps 3-9 (a 3.5 s clip), a face on 5-7
    masks[2][0, 5:8] = True
    for m in masks:
        m[1] = True  # example 1: every step, every modality
    masks[2][2, 15] = True  # example 2: one face step
    split = Split(*x, *masks, torch.zeros(n, 6))
    got = evaluate.summary_scores(model, split, batch_size=4)
    for i, (lo, hi) in enumerate([(3, 10), (0, 16), (15, 16)]):
        valid = (masks[0][i] | masks[1][i] | masks[2][i])[lo:hi].numpy()
        spans = scoring.timeline_spans(valid)
        with torch.inference_mode():
            rows = [model(*(t[i:i + 1, lo + a: lo + b] for t in (*x, *masks))).scores[0].numpy() for a, b in spans]
        want = (scoring.window_weights(valid, spans)[:, None] * np.stack(rows)).sum(0)
        np.testing.assert_allclose(got[i], want, atol=1e-5)


def test_bad_files_give_one_clear_error(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(DataError, match="not a readable"):
        load_aligned(tmp_path / "junk.pt")
    torch.save({"train": {}, "test": {}}, tmp_path / "wrong.pt")
    with pytest.raises(DataError, match="missing split 'valid'"):
        load_aligned(tmp_path / "wrong.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"train": Evil()}))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_unaligned(tmp_path / "evil.pkl", {})
    assert train.main(["--data", str(tmp_path / "nope.pt"), "--output", str(tmp_path / "o")]) == 2


def test_unaligned_pickle_is_read_with_labels_from_aligned(tmp_path):
    aligned = make_mosei_like(tmp_path / "d.pt", n=(6, 4, 4))
    rng = np.random.default_rng(0)
    mult = {s: {"text": rng.normal(size=(len(aligned[s]["tgt"]), 5, 12)),
                "audio": rng.normal(size=(len(aligned[s]["tgt"]), 20, 10)),
                "vision": rng.normal(size=(len(aligned[s]["tgt"]), 20, 8))} for s in aligned}
    (tmp_path / "u.pkl").write_bytes(pickle.dumps(mult))
    s = load_unaligned(tmp_path / "u.pkl", load_aligned(tmp_path / "d.pt"))
    assert s["train"].audio.shape == (6, 20, 10) and s["valid"].labels.shape == (4, 6)


def test_short_training_learns_a_multimodal_signal(tmp_path):
    data = make_mosei_like(tmp_path / "d.pt")
    cfg = {k: v for k, v in dict(hidden=32, heads=4, intermediate=64, dropout=0.1, text_layers=1, audio_layers=1,
                                  visual_layers=1, cross_layers=1, discriminator_hidden=16).items()}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    out = tmp_path / "run"
    # The default optimiser (bertadam) has no bias correction: ~3x AdamW's step at the same lr, hence 2e-3.
    rc = train.main(["--data", str(tmp_path / "d.pt"), "--output", str(out), "--epochs", "25", "--batch-size", "32",
                     "--lr", "2e-3", "--config", str(tmp_path / "cfg.json"), "--device", "cpu", "--calibrate",
                     "--tune-thresholds"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    calibration = metrics["calibration"]  # temperatures fitted on validation, saved with the checkpoint
    assert json.loads((out / "config.json").read_text())["temperatures"] == calibration["temperatures"]
    assert len(calibration["test_ece_after"]) == 6 and all(t > 0 for t in calibration["temperatures"])
    assert metrics["samples"] == 160  # the whole test set, nothing dropped
    # Chance: the best constant prediction (all three planted labels on) scores about micro-F1 0.4.
    y = np.array([[4 + j in t for j in range(3)] for t in data["test"]["tgt"]])
    constant_f1 = 2 * y.mean() / (1 + y.mean())
    assert metrics["micro_f1"] > constant_f1 + 0.2, (metrics["micro_f1"], constant_f1)
    assert metrics["per_label_f1"]["happy"] > 0.7  # text AND audio
    assert metrics["per_label_f1"]["anger"] > 0.7  # audio AND visual
    # evaluate reloads the checkpoint from disk and reproduces the test metrics.
    assert evaluate.main(["--checkpoint", str(out), "--data", str(tmp_path / "d.pt")]) == 0
    # Thresholds re-tuned on the app's summary (mean of timeline windows); calibration unchanged (one pass).
    assert calibrate.main(["--checkpoint", str(out), "--data", str(tmp_path / "d.pt"), "--tune-on", "summary"]) == 0
    resummed = json.loads((out / "metrics.json").read_text())
    assert resummed["thresholds_tuned_on"] == "summary"
    assert resummed["calibration"]["temperatures"] == pytest.approx(calibration["temperatures"])
    assert resummed["summary"]["micro_f1"] > constant_f1 + 0.2 and len(resummed["summary"]["ece"]) == 6
    # Resume: a finished run continues without error and keeps its best checkpoint.
    assert train.main(["--data", str(tmp_path / "d.pt"), "--output", str(out), "--epochs", "25",
                       "--config", str(tmp_path / "cfg.json"), "--resume", "--device", "cpu"]) == 0


def test_tailor_sentences_are_the_ones_the_words_encoder_did_not_train_on(tmp_path):
    """``prepare_demo --text-unseen-by`` keeps exactly the training sentences ``train_text --train-subset`` left out."""
    from tailor_core.config import LABELS
    from tailor_core.features.text_emotion import LABELS as EKMAN  # the Ekman grouping's ids, as in labels.txt
    from training.prepare_demo import GOEMOTIONS_TO_LABEL, load_goemotions
    from training.train_text import read_split, train_subset

    go = tmp_path / "goemotions_ekman"
    go.mkdir()
    (go / "labels.txt").write_text("\n".join(EKMAN) + "\n")
    (go / "train.tsv").write_text("".join(f"sentence number {i}\t{i % 7}\tid{i}\n" for i in range(20)))
    encoder_saw = {" ".join(read_split(go, "train")[0][i]) for i in train_subset(20, 12, seed=3)}
    assert len(encoder_saw) == 12
    cfg = tmp_path / "text_emotion.json"
    cfg.write_text(json.dumps({"train_texts": 12, "seed": 3}))
    texts, labels = load_goemotions(tmp_path, "train", None, np.random.default_rng(0), unseen_by=cfg)
    assert len(texts) == 8 and labels.shape == (8, 6) and not set(texts) & encoder_saw
    for text, y in zip(texts, labels):  # each kept sentence keeps its own label (neutral: none)
        label = GOEMOTIONS_TO_LABEL.get(EKMAN[int(text.split()[-1]) % 7])
        assert y.tolist() == [float(name == label) for name in LABELS]
    cfg.write_text(json.dumps({"train_texts": 20, "seed": 3}))  # an encoder that saw every sentence
    with pytest.raises(SystemExit, match="every training sentence"):
        load_goemotions(tmp_path, "train", None, np.random.default_rng(0), unseen_by=cfg)


def test_weight_average_is_what_gets_kept_and_resumes_exactly(tmp_path, monkeypatch):
    make_mosei_like(tmp_path / "d.pt", n=(96, 32, 32))
    (tmp_path / "cfg.json").write_text(json.dumps(dict(hidden=16, heads=2, intermediate=32, text_layers=1,
                                                       audio_layers=1, visual_layers=1, cross_layers=1)))

    def run(out, epochs, *extra):
        assert train.main(["--data", str(tmp_path / "d.pt"), "--output", str(tmp_path / out), "--epochs", str(epochs),
                           "--batch-size", "16", "--lr", "2e-3", "--config", str(tmp_path / "cfg.json"),
                           "--device", "cpu", *extra]) == 0

    def weights(path):
        return TAILOR.from_pretrained(tmp_path / path).state_dict()

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    run("raw", 2)
    run("ema", 2, "--ema", "0.9")
    save = torch.save

    def save_then_stop(*args, **kwargs):  # the run is killed right after epoch 1's trainer state is written
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run("split", 2, "--ema", "0.9")
    monkeypatch.undo()
    run("split", 2, "--ema", "0.9", "--resume")
    assert same(weights("raw/last"), weights("ema/last"))  # averaging never changes the training itself
    assert not same(weights("ema/last"), weights("ema/last/ema"))  # ... it keeps a different set of weights
    assert same(weights("split/last"), weights("ema/last"))
    assert same(weights("split/last/ema"), weights("ema/last/ema"))  # a resumed average carries on exactly
    run("one", 1, "--ema", "0.9")  # one epoch: it is the best, so the checkpoint kept is that epoch's average
    assert same(weights("one"), weights("one/last/ema")) and not same(weights("one"), weights("one/last"))
    assert train.main(["--data", str(tmp_path / "d.pt"), "--output", str(tmp_path / "x"), "--ema", "1"]) == 2
    assert train.main(["--data", str(tmp_path / "d.pt"), "--output", str(tmp_path / "x"), "--window-crop", "2"]) == 2


def test_window_crop_trains_on_the_windows_the_app_scores():
    from tailor_core import scoring
    from training.data import Split, TailorDataset

    n, steps, dim = 3, 16, 4
    feats = torch.arange(n * steps * dim, dtype=torch.float32).reshape(n, steps, dim)
    masks = torch.zeros(n, steps, dtype=torch.bool)
    masks[:, 3:13] = True  # content: steps 3..12, as a 5 s voice placed at offset 3
    split = Split(feats, feats + 0.5, feats + 0.25, masks, masks.clone(), masks.clone(), torch.eye(6)[:n])
    spans = scoring.timeline_spans(np.ones(10, bool))  # the app's windows over 10 steps of content
    assert all(b - a == 5 for a, b in spans)  # shorter than two windows: windows of half its length
    torch.manual_seed(0)
    cut = TailorDataset(split, window_crop=1.0)
    starts = set()
    for _ in range(40):
        item = cut[1]
        start = int(item["text"][0, 0] - feats[1, 0, 0]) // dim  # where in the example the window began
        a = start - 3
        assert (a, a + 5) in spans
        starts.add(a)
        assert torch.equal(item["text"][:5], feats[1, start: start + 5]) and not item["text"][5:].any()
        assert torch.equal(item["audio"][:5], feats[1, start: start + 5] + 0.5)
        assert item["audio_mask"][:5].all() and not item["audio_mask"][5:].any()
        assert torch.equal(item["labels"], split.labels[1])
    assert len(starts) > 2  # the window is drawn, not always the first
    whole = TailorDataset(split)[1]
    assert torch.equal(whole["text"], feats[1]) and torch.equal(whole["visual_mask"], masks[1])


def test_voice_variant_shares_swap_only_the_voice_features():
    """``prepare_demo --live-voice-share / --voice-aug-share``: a share of the training voices comes in a variant's
    features (live window, channel-augmented copy); every other draw (items, offsets, labels) and every other
    variant's picks stay as without it, share 0 is the plain recipe, and a voice picked for both comes live."""
    from training.prepare_demo import Composer

    rng = np.random.default_rng(0)
    labels = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 40)]

    def seqs(n, d, value=None):
        return [np.full((n, d), value, np.float32) if value is not None else rng.normal(size=(n, d)).astype(np.float32)
                for _ in range(40)]

    items = {"text": {"seqs": seqs(5, 4), "labels": labels}, "visual": {"seqs": seqs(1, 3), "labels": labels},
             "audio": {"seqs": seqs(6, 2, 1.0), "labels": labels, "statement": np.array([""] * 40)}}
    both = dict(items, audio_live={"seqs": seqs(6, 2, 2.0), "labels": labels},
                audio_aug={"seqs": seqs(6, 2, 3.0), "labels": labels})

    def compose(its, shares):
        return Composer(its, {}, np.random.default_rng(5), np.zeros(3, np.float32), shares).sample(300)

    plain = compose(items, {"live": 0.5, "aug": 0.5})  # no variant items: the plain recipe
    zero, live, aug = compose(both, {}), compose(both, {"live": 0.5}), compose(both, {"aug": 0.5})
    mixed, every = compose(both, {"live": 0.5, "aug": 0.5}), compose(both, {"live": 1.0, "aug": 1.0})
    for k in plain:
        assert np.array_equal(plain[k], zero[k]), k
        if k != "audio":
            assert all(np.array_equal(plain[k], d[k]) for d in (live, aug, mixed, every)), k
    voiced = np.flatnonzero(plain["audio_mask"].any(1))
    assert len(voiced) > 100 and set(np.unique(every["audio"][every["audio_mask"]])) == {2.0}  # live first

    def came(d, value):
        return np.array([value in d["audio"][i] for i in voiced])

    assert 0.35 < came(live, 2.0).mean() < 0.65 and 0.35 < came(aug, 3.0).mean() < 0.65
    # together: the live picks are the live-only run's, the augmented ones the aug-only run's less those
    assert np.array_equal(came(mixed, 2.0), came(live, 2.0))
    assert np.array_equal(came(mixed, 3.0), came(aug, 3.0) & ~came(live, 2.0))


def test_voice_augmentation_is_seeded_and_keeps_the_sound(tmp_path):
    """The channel augmentation of ``--voice-aug-share`` (``voice_corpora.augment``) on a real recording: the same
    seed gives the same samples, another seed other ones; the result is finite, within full scale, as long as the
    input plus at most 40 ms of silence and a codec's padding, and the same voice (its level envelope follows the
    input's); the seed of a file is fixed by its name."""
    import soundfile as sf

    from tailor_core.features.audio import resample_to_16k, to_mono_float
    from training.prepare_demo import augment_seed
    from training.voice_corpora import augment

    samples, sr = sf.read(Path(__file__).resolve().parent.parent / "assets" / "ravdess_fearful.wav", dtype="float32")
    y = resample_to_16k(to_mono_float(samples), sr)[:32000]
    seeds = [augment_seed(f"/data/Actor_{a:02d}/03-01-06-01-02-01-{a:02d}.wav") for a in range(1, 9)]
    assert seeds[0] == augment_seed("/elsewhere/Actor_01/03-01-06-01-02-01-01.wav") and len(set(seeds)) == 8
    outs = [augment(y, s) for s in seeds]
    assert np.array_equal(outs[0], augment(y, seeds[0]))
    assert not np.array_equal(outs[0][:len(y)], outs[1][:len(y)])
    for z in outs:
        assert z.dtype == np.float32 and np.isfinite(z).all() and np.abs(z).max() <= 1.0 + 1e-6
        assert len(y) <= len(z) <= len(y) + 640 + 4800
        # the voice is still there: 20 ms level envelopes correlate (after the leading shift is undone by search)
        env = lambda a: np.sqrt(np.mean(a[: len(a) // 320 * 320].reshape(-1, 320) ** 2, 1))  # noqa: E731
        e, f = env(y), env(z)
        best = max(np.corrcoef(e, f[k: k + len(e)])[0, 1] for k in range(len(f) - len(e) + 1))
        assert best > 0.8, best  # 0.83-1.0 here; white noise: 0.06


def test_speed_perturbation_moves_pitch_and_tempo_together():
    """``voice_corpora.perturb_speed``: seeded; a factor in SPEED_RANGE shortens the sound by it and raises its
    pitch by it (a 200 Hz tone comes out at 200 * factor), as a smaller speaker would."""
    from training.voice_corpora import SPEED_RANGE, perturb_speed

    t = np.arange(32000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    outs = [perturb_speed(tone, s) for s in range(6)]
    assert np.array_equal(outs[0], perturb_speed(tone, 0)) and len({len(z) for z in outs}) > 1
    for z in outs:
        factor = len(tone) / len(z)
        assert SPEED_RANGE[0] - 0.01 <= factor <= SPEED_RANGE[1] + 0.01 and z.dtype == np.float32
        spec = np.abs(np.fft.rfft(z * np.hanning(len(z))))
        peak = np.argmax(spec) * 16000 / len(z)
        assert abs(peak - 200 * factor) < 2.0, (peak, factor)


def test_words_corpora_loaders_map_meld_and_semeval_to_the_seven_ids(tmp_path):
    """``train_text --corpora``: MELD (repaired apostrophes, one label) and SemEval E-c (six of eleven; none -> neutral)
    map to the GoEmotions-Ekman ids; the SemEval held-out split and the MELD validation dialogues are fixed by seed."""
    from tailor_core.features.text_emotion import LABELS as EKMAN
    from training.train_text import (
        domain_scores,
        load_corpora,
        meld_val_dialogues,
        read_meld,
        read_semeval,
        repair_text,
        semeval_split,
    )

    assert repair_text("I donâ€™t know") == "I don't know"  # UTF-8 read as cp1252, repaired
    assert repair_text("You must’ve “had” it…") == "You must've \"had\" it..."
    meld = tmp_path / "meld"
    meld.mkdir()
    rows = ["Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID",
            "1,Oh my God you’re here!,Monica,joy,positive,0,0", "2,So?,Ross,neutral,neutral,0,1",
            "3,\"Get out, now.\",Rachel,anger,negative,1,0", "4,Ew.,Phoebe,disgust,negative,2,0"]
    for split in ("train", "dev"):
        (meld / f"{split}_sent_emo.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    words, y, dialogues = read_meld(meld / "train_sent_emo.csv")
    assert words[0] == ["Oh", "my", "God", "you're", "here!"] and words[2] == ["Get", "out,", "now."]
    assert [EKMAN[i] for i in y.argmax(1)] == ["joy", "neutral", "anger", "disgust"] and (y.sum(1) == 1).all()
    assert dialogues.tolist() == [0, 0, 1, 2]
    cols = "anger anticipation disgust fear joy love optimism pessimism sadness surprise trust".split()
    sem = tmp_path / "semeval2018_ec"
    sem.mkdir()
    tweets = [("2018-En-1", "so #happy today", "joy"), ("2018-En-2", "love you all", "love optimism"),
              ("2018-En-3", "this is vile and scary", "disgust fear"), ("2018-En-4", "wait what", "surprise")]
    (sem / "train.txt").write_text("ID\tTweet\t" + "\t".join(cols) + "\n" + "".join(
        f"{i}\t{t}\t" + "\t".join("1" if c in on.split() else "0" for c in cols) + "\n" for i, t, on in tweets))
    words, y, ids = read_semeval(sem / "train.txt")
    assert ids == [t[0] for t in tweets] and words[0] == ["so", "#happy", "today"]
    names = [{EKMAN[j] for j in np.flatnonzero(row)} for row in y]
    assert names == [{"joy"}, {"neutral"}, {"disgust", "fear"}, {"surprise"}]  # love/optimism only: neutral

    many = [f"2018-En-{i:05d}" for i in range(200)]
    sp = semeval_split(many, seed=0)
    assert [len(sp[k]) for k in ("test", "val", "train")] == [30, 20, 150]
    assert sorted(np.concatenate(list(sp.values())).tolist()) == list(range(200))
    again = semeval_split(list(reversed(many)), seed=0)  # the split follows the IDs, not the file's order
    assert sorted(many[199 - i] for i in again["test"]) == sorted(many[i] for i in sp["test"])
    d = np.repeat(np.arange(30), 3)
    v = meld_val_dialogues(d, seed=1)
    assert v.sum() == 9 and all(v[d == k].all() or not v[d == k].any() for k in range(30))  # whole dialogues

    go = tmp_path / "goemotions_ekman"
    go.mkdir()
    for split in ("train", "dev", "test"):
        (go / f"{split}.tsv").write_text("".join(f"text number {i}\t{i % 7}\tid{i}\n" for i in range(14)))
    data = load_corpora(["goemotions", "meld", "semeval"], go, meld, sem, split_seed=0)
    assert set(data) == {f"{c}_{s}" for c in ("goemotions", "meld", "semeval") for s in ("train", "val", "test")}
    assert len(data["meld_test"][0]) == 4 and len(data["semeval_test"][0]) == 1  # round(0.15 * 4)

    y = np.eye(7, dtype=np.float32)[[3, 0, 4, 1]]  # joy, anger, neutral, disgust
    p = np.full((4, 7), 0.1, np.float32)
    p[0, 3] = p[1, 6] = p[2, 4] = p[3, 1] = 0.9  # anger item read as surprise
    s = domain_scores("meld", p, y, 0.5)
    assert s["n_with_emotion"] == 3 and s["headline"] == s["top_emotion_6"] == pytest.approx(2 / 3, abs=1e-4)


def _tiny_text_corpora(root: Path) -> tuple[Path, Path, Path]:
    """A few random sentences as GoEmotions (Ekman), MELD and SemEval-2018 E-c folders, in their file formats."""
    rng = np.random.default_rng(0)
    vocab = "so happy great awful scared angry gross wow sad crying today really".split()
    go = root / "goemotions_ekman"
    go.mkdir()
    for split, n in (("train", 28), ("dev", 14), ("test", 14)):
        (go / f"{split}.tsv").write_text("".join(f"{' '.join(rng.choice(vocab, 5))}\t{i % 7}\tid{i}\n"
                                                 for i in range(n)))
    meld = root / "meld"
    meld.mkdir()
    emotions = ["joy", "neutral", "anger", "disgust", "fear", "sadness", "surprise"]
    rows = ["Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID"] + [
        f"{i},{' '.join(rng.choice(vocab, 4))},Ross,{emotions[i % 7]},neutral,{i // 2},{i % 2}" for i in range(28)]
    for split in ("train", "dev"):
        (meld / f"{split}_sent_emo.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    cols = "anger anticipation disgust fear joy love optimism pessimism sadness surprise trust".split()
    sem = root / "semeval2018_ec"
    sem.mkdir()
    (sem / "train.txt").write_text("ID\tTweet\t" + "\t".join(cols) + "\n" + "".join(
        f"2018-En-{i:03d}\t{' '.join(rng.choice(vocab, 5))}\t" + "\t".join("1" if j == i % 11 else "0"
                                                                           for j in range(11)) + "\n"
        for i in range(40)))
    return go, meld, sem


def test_train_text_runs_both_recipes_end_to_end_on_tiny_data(tmp_path):
    """``train_text`` (the words encoder's training) on a few sentences, the GoEmotions-only recipe and the
    ``--corpora`` one: each trains one tuned layer for an epoch and writes weights named as the runtime loads them
    (the tuned top layer and the head) with their JSON config."""
    import json as _json

    from safetensors.torch import load_file

    from training import train_text

    go, meld, sem = _tiny_text_corpora(tmp_path)
    corpora = ["--corpora", "goemotions,meld,semeval", "--meld", str(meld), "--semeval", str(sem)]
    for name, extra in (("go", []), ("all", corpora), ("context", [*corpora, "--meld-context", "1"])):
        out = tmp_path / name
        train_text.main(["--data", str(go), "--cache", str(tmp_path / f"cache-{name}"), "--out", str(out),
                         "--layers", "1", "--epochs", "1", "--batch", "8", *extra,
                         "--report", str(tmp_path / f"{name}.json")])
        weights = load_file(str(out / "text_emotion.safetensors"))
        assert {k.split(".")[0] for k in weights} == {"encoder", "head"}
        assert {k.split(".")[2] for k in weights if k.startswith("encoder.")} == {"5"}  # only the top layer
        cfg = _json.loads((out / "text_emotion.json").read_text())
        assert cfg["fine_tuned_layers"] == [5] and len(cfg["thresholds"]) == 7
    report = _json.loads((tmp_path / "context.json").read_text())
    assert report["meld_context"] == 1 and "typed_line" in report["new_encoder"]["meld"]  # the lines alone too
    cache = next((tmp_path / "cache-context").iterdir())
    with_ctx, alone = np.load(cache / "meld_test_ctx1.npz"), np.load(cache / "meld_test.npz")
    # every second line (Utterance_ID 1) follows the line before it: its text is longer, its line starts later
    assert (with_ctx["starts"][1::2] > 1).all() and (with_ctx["starts"][::2] == 0).all()
    assert (with_ctx["lens"][1::2] > alone["lens"][1::2]).all() and (with_ctx["lens"][::2] == alone["lens"][::2]).all()


def test_probe_text_base_reports_each_domains_floor_from_cached_mean_states(tmp_path):
    """``probe_text_base`` (is a larger sentence encoder worth tuning?) on tiny corpora with the shipped base: a
    text's feature is the mean of its last token states without the special tokens, cached per model; the report
    has each domain's held-out headline figure; a second run reads the cache instead of encoding again."""
    import os

    from transformers import AutoModel, AutoTokenizer

    from tailor_core.features.text_emotion import base_model_path
    from training import probe_text_base

    go, _, _ = _tiny_text_corpora(tmp_path)
    args = ["--data", str(go), "--cache", str(tmp_path / "cache"), "--report", str(tmp_path / "r.json"),
            "--threads", "1"]
    probe_text_base.main(args)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["model"] == probe_text_base.BASE_NAME and report["hidden"] == 384
    assert set(report["headline"]) == {"goemotions", "meld", "semeval"}
    assert all(0.0 <= v <= 1.0 for v in report["headline"].values())
    cache = tmp_path / "cache" / f"{probe_text_base.BASE_NAME}_go28_seed0"
    x = np.load(cache / "meld_test.npy")
    assert x.shape == (28, 384)
    words = (go.parent / "meld" / "dev_sent_emo.csv").read_text().splitlines()[1].split(",")[1].split()
    tok = AutoTokenizer.from_pretrained(str(base_model_path()), local_files_only=True)
    model = AutoModel.from_pretrained(str(base_model_path()), local_files_only=True).eval()
    with torch.no_grad():
        last = model(**tok([words], is_split_into_words=True, return_tensors="pt")).last_hidden_state[0]
    np.testing.assert_allclose(x[0], last[1:-1].mean(0).numpy(), atol=1e-4)  # [CLS] and [SEP] left out
    stamp = os.stat(cache / "meld_test.npy").st_mtime_ns
    probe_text_base.main(args)
    assert os.stat(cache / "meld_test.npy").st_mtime_ns == stamp


def test_a_meld_line_is_read_after_the_lines_before_it_in_its_dialogue():
    """``--meld-context N``: a line's text is up to N earlier lines of the same dialogue (at most CONTEXT_WORDS of
    their words) and then the line; the index of the line's first word says where the head starts pooling."""
    from training.train_text import CONTEXT_WORDS, with_context

    words = [["a"], ["b", "c"], ["d"], ["e"], ["x"] * (CONTEXT_WORDS + 5), ["f"]]
    texts, first = with_context(words, np.array([0, 0, 0, 1, 1, 1]), 2)
    assert texts[:4] == [["a"], ["a", "b", "c"], ["a", "b", "c", "d"], ["e"]]  # a new dialogue: no context
    assert first.tolist()[:4] == [0, 1, 3, 0]
    assert texts[5] == ["x"] * CONTEXT_WORDS + ["f"] and first[5] == CONTEXT_WORDS  # the earlier lines' last words


def test_init_starts_from_given_weights_and_refuses_others(tmp_path, capsys):
    """``--init DIR`` (used to start our code from the authors' initial draw in the parity benchmark) begins from
    that checkpoint's weights; one of another shape is a clear error, not a silent fresh draw."""
    make_mosei_like(tmp_path / "d.pt", n=(32, 16, 16))
    (tmp_path / "cfg.json").write_text(json.dumps(dict(hidden=16, heads=2, intermediate=32, text_layers=1,
                                                       audio_layers=1, visual_layers=1, cross_layers=1)))
    common = ["--data", str(tmp_path / "d.pt"), "--epochs", "1", "--batch-size", "16", "--config",
              str(tmp_path / "cfg.json"), "--device", "cpu"]
    assert train.main([*common, "--output", str(tmp_path / "a"), "--seed", "1"]) == 0
    assert train.main([*common, "--output", str(tmp_path / "b"), "--seed", "2", "--lr", "1e-12",
                       "--init", str(tmp_path / "a" / "last")]) == 0
    start = TAILOR.from_pretrained(tmp_path / "a" / "last").state_dict()
    after = TAILOR.from_pretrained(tmp_path / "b" / "last").state_dict()
    assert all(torch.allclose(start[k], after[k], atol=1e-6) for k in start)
    TAILOR(TailorConfig.debug()).save_pretrained(tmp_path / "other")
    assert train.main([*common, "--output", str(tmp_path / "c"), "--init", str(tmp_path / "other")]) == 2
    assert "does not fit this model" in capsys.readouterr().err


def test_speaker_norm_from_all_or_some_of_a_speakers_files():
    """``voice_transfer.speaker_norm``: by default every speaker is standardised by all of their rows; with
    ``files=k`` by k of them drawn at random (seeded), so the other rows are not exactly standardised."""
    from training.voice_transfer import speaker_norm

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(5, 2, (40, 3)), rng.normal(-3, 0.5, (40, 3))])
    spk = np.array(["a"] * 40 + ["b"] * 40)
    full = speaker_norm(x, spk)
    for s in ("a", "b"):
        assert np.allclose(full[spk == s].mean(0), 0, atol=1e-9) and np.allclose(full[spk == s].std(0), 1, atol=1e-4)
    some = speaker_norm(x, spk, files=4, seed=1)
    assert np.allclose(some, speaker_norm(x, spk, files=4, seed=1))  # seeded
    assert not np.allclose(some, full) and np.abs(some[spk == "b"].mean(0)).max() < 3  # near, not exact


def test_centred_voices_take_the_speaker_out_and_keep_the_rest():
    """``prepare_demo.centred_voices``: each actor's voices are moved by the gap between the training mean and the
    mean of 4-16 other files of that actor, so two actors apart by a constant offset land on one mean; a voice's
    own variation within the file is kept; a generated clip is centred by some actor's files."""
    from training.prepare_demo import centred_voices, speech_mean

    rng = np.random.default_rng(0)
    paths, seqs = [], []
    for actor, offset in (("01", 5.0), ("02", -5.0)):
        for i in range(20):
            paths.append(f"Actor_{actor}/03-01-0{1 + i % 8}-01-01-01-{actor}.flac")
            seqs.append(rng.normal(offset, 1.0, (6, 4)).astype(np.float32))
    paths.append("nothing:1")
    seqs.append(np.zeros((6, 4), np.float32))
    out = centred_voices(seqs, paths, seed=3)
    mu = speech_mean(seqs, paths)
    assert abs(mu).max() < 0.5  # the two actors' offsets cancel in the training mean
    for lo, hi in ((0, 20), (20, 40)):  # each actor now sits on the training mean, not on its offset
        assert np.abs(np.concatenate(out[lo:hi]).mean(0) - mu).max() < 0.5
    assert np.allclose(out[3] - out[3].mean(0), seqs[3] - seqs[3].mean(0), atol=1e-5)  # within-file shape kept
    assert abs(abs(out[-1].mean()) - 5.0) < 0.8  # silence moved by one actor's offset
    assert np.array_equal(np.concatenate(out), np.concatenate(centred_voices(seqs, paths, seed=3)))  # seeded


def test_extra_voices_add_training_speakers_and_keep_the_held_out_ones(tmp_path, monkeypatch):
    """``prepare_demo --extra-voices``: another corpus's files join the training voices only (validation and test
    stay RAVDESS's), its held-out speakers never do, its emotions map to the six labels (neutral: none), and the
    RAVDESS features are cached under the same name as without it (so adding a corpus re-uses them)."""
    from training import prepare_demo as pd

    for actor in (1, 8):
        d = tmp_path / "ravdess_speech" / f"Actor_{actor:02d}"
        d.mkdir(parents=True)
        for emo in ("01", "05"):
            (d / f"03-01-{emo}-01-01-01-{actor:02d}.flac").touch()
    (tmp_path / "tess").mkdir()
    for spk in ("OAF", "YAF"):
        for word in ("back", "bar"):
            for emo in ("angry", "neutral", "ps", "fear"):
                (tmp_path / "tess" / f"{spk}_{word}_{emo}.flac").touch()
    monkeypatch.setitem(pd.EXTRA_VOICES, "tess", {"held_out": ("tess:YAF",), "every": 2})
    monkeypatch.setattr(pd, "NOTHING_ITEMS", {"train": 1, "valid": 1, "test": 1})
    plain, y_plain, _ = pd.load_voices(tmp_path, "train", 0)
    paths, y, statements = pd.load_voices(tmp_path, "train", 0, ("tess",))
    assert paths[: len(plain)] == plain and np.array_equal(y[: len(plain)], y_plain)
    extra = paths[len(plain):]
    assert [Path(p).name for p in extra] == ["OAF_back_angry.flac", "OAF_back_neutral.flac", "OAF_bar_angry.flac",
                                             "OAF_bar_neutral.flac"]  # every 2nd in path order, no YAF
    assert statements[len(plain):] == [""] * 4
    names = [pd.LABELS[j] for row in y[len(plain):] for j in np.flatnonzero(row)]
    assert names == ["anger", "anger"]  # angry -> anger; neutral -> no label
    assert pd.load_voices(tmp_path, "test", 0, ("tess",))[0] == pd.load_voices(tmp_path, "test", 0)[0]

    runs = []
    monkeypatch.setattr(pd, "_run_chunks", lambda name, items, fn, parts, workers: runs.append((name, items)) or items)
    assert pd._voice_features("audio_train", paths, None, tmp_path, 1) == paths
    assert [(n, len(i)) for n, i in runs] == [("audio_train", len(plain)), ("audio_train_tess", 4)]
    with pytest.raises(ValueError, match="not supported"):
        pd.extract_items(tmp_path, tmp_path, 1, {}, 0, voice_variants=("centred",), extra_voices=("tess",))
