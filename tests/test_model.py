"""The TAILOR model: shapes, masks, attention, gradient reversal, checkpoints."""

import json

import pytest
import torch

from tailor_core import LABELS, TAILOR, TailorConfig
from tailor_core.model import grad_reverse


def inputs(cfg: TailorConfig, batch: int = 3, lt=None, la=None, lv=None):
    g = torch.Generator().manual_seed(0)
    lt, la, lv = lt or cfg.text_len, la or cfg.audio_len, lv or cfg.visual_len
    return (torch.randn(batch, lt, cfg.text_dim, generator=g), torch.randn(batch, la, cfg.audio_dim, generator=g),
            torch.randn(batch, lv, cfg.visual_dim, generator=g))


def test_paper_config_matches_the_paper():
    cfg = TailorConfig()
    assert (cfg.text_dim, cfg.audio_dim, cfg.visual_dim, cfg.text_len) == (300, 74, 35, 60)
    assert (cfg.hidden, cfg.heads, cfg.intermediate, cfg.dropout) == (256, 8, 256, 0.3)
    assert (cfg.text_layers, cfg.audio_layers, cfg.visual_layers, cfg.cross_layers) == (6, 4, 4, 3)
    assert cfg.threshold == 0.35 and cfg.labels == LABELS
    # The authors report 10.8 M parameters with poolers; ours has no poolers but 512 positions per encoder.
    assert 10.0e6 < TAILOR(cfg).num_parameters() < 11.5e6


def test_aligned_shapes_and_attention():
    cfg = TailorConfig.debug()
    model = TAILOR(cfg).eval()
    out = model(*inputs(cfg), return_attention=True)
    L = 4 * cfg.text_len
    assert out.scores.shape == (3, 6) and out.logits.shape == (3, 6) and out.common_logits.shape == (3, 6)
    assert out.attention.shape == (3, 6, cfg.heads, L)
    assert torch.all((out.scores > 0) & (out.scores < 1))
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(3, 6, cfg.heads))
    s = model.modality_slices(cfg.text_len, cfg.audio_len, cfg.visual_len)
    assert [s[m].start for m in ("text", "audio", "visual", "common")] == [0, 8, 16, 24] and s["common"].stop == L
    assert out.attention is not None and model(*inputs(cfg)).attention is None


def test_unaligned_shapes_ctc():
    cfg = TailorConfig.debug(aligned=False, text_len=5, audio_len=20, visual_len=30)
    model = TAILOR(cfg).eval()
    out = model(*inputs(cfg), return_attention=True)
    assert out.scores.shape == (3, 6)
    assert out.attention.shape == (3, 6, cfg.heads, 4 * 5)  # audio and visual re-weighted to text length
    assert out.ctc_log_probs["audio"].shape == (3, 20, 6) and out.ctc_log_probs["visual"].shape == (3, 30, 6)


def test_masked_positions_get_no_attention_and_do_not_matter():
    cfg = TailorConfig.debug()
    model = TAILOR(cfg).eval()
    t, a, v = inputs(cfg)
    tm = torch.ones(3, 8, dtype=torch.bool)
    vm = torch.ones(3, 8, dtype=torch.bool)
    tm[:, 5:] = False
    vm[0] = False  # a clip with no face at all
    out = model(t, a, v, text_mask=tm, visual_mask=vm, return_attention=True)
    s = model.modality_slices(8, 8, 8)
    att = out.attention
    assert torch.isfinite(out.scores).all()
    assert att[:, :, :, s["text"]][..., 5:].abs().max() == 0
    assert att[0, :, :, s["visual"]].abs().max() == 0
    torch.testing.assert_close(att.sum(-1), torch.ones(3, 6, cfg.heads))
    # Changing what is masked changes nothing.
    t2, v2 = t.clone(), v.clone()
    t2[:, 5:] = 100.0
    v2[0] = -50.0
    out2 = model(t2, a, v2, text_mask=tm, visual_mask=vm)
    torch.testing.assert_close(out.scores, out2.scores)


def test_gradient_reversal_flips_sign():
    x = torch.randn(4, 5, requires_grad=True)
    (grad_reverse(x, 1.0) * 3.0).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((4, 5), -3.0))
    y = torch.randn(2, requires_grad=True)
    (grad_reverse(y, 0.5) ** 2).sum().backward()
    torch.testing.assert_close(y.grad, -0.5 * 2 * y.detach())
    # Inside the model: the common extractor receives the reversed discriminator gradient.
    cfg = TailorConfig.debug()
    model = TAILOR(cfg).eval()  # no dropout, so both passes see the same network
    out = model(*inputs(cfg))
    out.discriminator_common["text"].sum().backward()
    g_reversed = model.common[0].weight.grad.clone()
    model.zero_grad()
    out = model(*inputs(cfg))
    model.discriminator(out.common["text"]).sum().backward()
    torch.testing.assert_close(model.common[0].weight.grad, -g_reversed)


def test_save_load_roundtrip_identical(tmp_path):
    cfg = TailorConfig.debug(thresholds=[0.3, 0.4, 0.35, 0.5, 0.2, 0.35])
    model = TAILOR(cfg).eval()
    model.set_feature_stats("audio", torch.full((cfg.audio_dim,), 2.0), torch.full((cfg.audio_dim,), 3.0))
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    loaded = TAILOR.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == cfg
    x = inputs(cfg)
    torch.testing.assert_close(model(*x).scores, loaded(*x).scores, rtol=0, atol=0)


def test_mismatched_checkpoint_gives_clear_error(tmp_path):
    TAILOR(TailorConfig.debug()).save_pretrained(tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    cfg["hidden"] = 64
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not match"):
        TAILOR.from_pretrained(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text(json.dumps(TailorConfig.debug().to_dict()))
    (tmp_path / "b" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot read"):
        TAILOR.from_pretrained(tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="not a TAILOR checkpoint"):
        TAILOR.from_pretrained(tmp_path / "nothing")


def test_mismatched_sequence_lengths_give_a_clear_error():
    cfg = TailorConfig.debug()
    model = TAILOR(cfg).eval()
    with pytest.raises(ValueError, match="same batch and sequence length"):
        model(torch.zeros(1, 5, cfg.text_dim), torch.zeros(1, 4, cfg.audio_dim), torch.zeros(1, 5, cfg.visual_dim))


def test_common_pool_mean_reads_the_valid_steps():
    """"first" reads step 0 of the common sequence (zeros when no modality is there); "mean" averages valid steps."""
    t, a, v = inputs(TailorConfig.debug())
    masks = [torch.ones(3, 8, dtype=torch.bool) for _ in range(3)]
    for m in masks:
        m[:, 0] = False  # step 0 empty in every modality, as often in the demo's composed data
    first = TAILOR(TailorConfig.debug()).eval()
    out = first(t, a, v, *masks)
    # Step 0 of the common sum is all zeros: every sample gets the classifier's bias, whatever its inputs.
    torch.testing.assert_close(out.common_logits, first.common_classifier.bias.expand(3, -1))
    mean = TAILOR(TailorConfig.debug(common_pool="mean")).eval()
    mean.load_state_dict(first.state_dict())  # same parameters: the option adds none
    out = mean(t, a, v, *masks)
    common_sum = sum(out.common[m] for m in ("text", "audio", "visual"))[:, 1:]  # steps 1..7 are valid
    torch.testing.assert_close(out.common_logits, mean.common_classifier(common_sum.mean(1)))
    assert not torch.allclose(out.common_logits[0], out.common_logits[1])
    with pytest.raises(ValueError, match="common_pool"):
        TailorConfig.debug(common_pool="max")


def test_fusion_positions_and_configs_written_before_the_field():
    torch.manual_seed(0)  # a random tiny model: with some draws the two differ by only ~1e-6 (it did flake)
    cfg = TailorConfig.debug()
    assert cfg.fusion_positions == "concat" and cfg.common_pool == "first"  # the authors' behaviour
    old = cfg.to_dict()
    del old["fusion_positions"], old["common_pool"], old["classifier_dropout"]
    legacy = TailorConfig.from_dict(old)  # a config.json that predates the fields keeps its old meaning
    assert legacy.fusion_positions == "segment" and legacy.common_pool == "first"
    a, b = TAILOR(cfg).eval(), TAILOR(legacy).eval()
    b.load_state_dict(a.state_dict())  # positions change, parameters do not
    x = inputs(cfg)
    assert (a(*x).logits - b(*x).logits).abs().max() > 1e-4
    with pytest.raises(ValueError, match="needs 32 positions"):
        TAILOR(TailorConfig.debug(max_positions=16))(*x)


def test_old_config_json_loads_with_the_behaviour_it_was_trained_with(tmp_path):
    """A config.json written before ``fusion_positions`` existed was trained with per-segment positions (the
    v2 demo checkpoint, commit fbd7bd1); today's default ("concat", the authors' code) must not be applied to it."""
    d = TailorConfig.debug().to_dict()
    del d["fusion_positions"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert TailorConfig.load(tmp_path / "config.json").fusion_positions == "segment"
    assert TailorConfig.debug().fusion_positions == "concat"


def test_shipped_demo_checkpoint_states_its_choices_and_loads_strictly():
    from tailor_core.predictor import default_checkpoint

    saved = json.loads((default_checkpoint() / "config.json").read_text())
    assert saved["fusion_positions"] == "segment" and saved["common_pool"] == "mean"  # issue 10: step 0 may be empty
    model = TAILOR.from_pretrained(default_checkpoint())
    c = model.config
    assert len(c.temperatures) == len(LABELS) and all(t > 0 for t in c.temperatures)
    x = [torch.randn(1, 16, d) for d in (c.text_dim, c.audio_dim, c.visual_dim)]
    masks = [torch.ones(1, 16, dtype=torch.bool) for _ in range(3)]
    masks[0][0, :8] = False  # no words in the first half, as in most clips
    with torch.no_grad():
        scores = model(*x, *masks).scores
    assert scores.shape == (1, len(LABELS)) and torch.isfinite(scores).all()


def test_label_query_dropout_is_drawn_per_example():
    """In training, each example draws its own dropout mask over the label queries (the authors' decoder
    embeddings do); one mask for the whole batch made the decoder's gradient far noisier. In eval, no dropout."""
    cfg = TailorConfig.debug(dropout=0.5)
    model = TAILOR(cfg)
    seen = []
    model.decoder[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    t, a, v = inputs(cfg, batch=1)
    batch = [x.expand(8, -1, -1) for x in (t, a, v)]  # eight copies of one example
    model.train()
    model(*batch)
    q = seen[-1]  # [8, N, H]
    assert not all(torch.equal(q[0], q[i]) for i in range(1, 8))
    model.eval()
    model(*batch)
    assert all(torch.equal(seen[-1][0], seen[-1][i]) for i in range(1, 8))
