"""FastDropout behaves as inverted dropout: right drop rate, right scale, reproducible, and only
replaces plain nn.Dropout modules for CPU training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ftstudio.engine.speed.fast_dropout import ENV_SWITCH, FastDropout, use_fast_dropout


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5])
def test_drop_rate_and_scale(p):
    torch.manual_seed(0)
    x = torch.ones(400, 1000)
    y = FastDropout(p).train()(x)
    kept = y != 0
    # 400k Bernoulli draws: the standard error of the rate is below 0.001.
    assert abs(kept.float().mean().item() - (1 - p)) < 0.004
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))


def test_expectation_is_preserved():
    torch.manual_seed(1)
    x = torch.randn(300, 700)
    y = FastDropout(0.1).train()(x)
    assert abs(y.mean().item() - x.mean().item()) < 0.01


def test_identity_in_eval_mode_and_at_zero():
    x = torch.randn(8, 16)
    assert torch.equal(FastDropout(0.3).eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)
    assert torch.count_nonzero(FastDropout(1.0).train()(x)) == 0


def test_masks_follow_torch_seed():
    x = torch.randn(64, 64)
    layer = FastDropout(0.2).train()
    torch.manual_seed(7)
    first = layer(x)
    torch.manual_seed(7)
    again = layer(x)
    other = layer(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_gradient_is_mask_times_scale():
    torch.manual_seed(3)
    x = torch.randn(32, 48, requires_grad=True)
    y = FastDropout(0.5).train()(x)
    y.sum().backward()
    expected = (y.detach() != 0).float() * 2.0
    assert torch.equal(x.grad, expected)


def test_odd_sizes_and_shapes():
    torch.manual_seed(4)
    for shape in [(1,), (3,), (5, 7), (2, 3, 5)]:
        x = torch.ones(shape)
        assert FastDropout(0.5).train()(x).shape == x.shape


def test_rejects_bad_probability():
    with pytest.raises(ValueError):
        FastDropout(1.5)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.1)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2), nn.ReLU())
        self.alpha = nn.AlphaDropout(0.1)  # not plain nn.Dropout: left alone


def test_use_fast_dropout_swaps_plain_dropout_on_cpu_only(monkeypatch):
    net = _Net()
    assert use_fast_dropout(net, "cuda") == 0
    assert use_fast_dropout(net, "cpu") == 2
    assert isinstance(net.drop, FastDropout) and net.drop.p == 0.1
    assert isinstance(net.block[1], FastDropout) and net.block[1].p == 0.2
    assert isinstance(net.alpha, nn.AlphaDropout)
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert use_fast_dropout(_Net(), "cpu") == 0


def test_swapped_bert_keeps_its_attention_dropout_probability(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    before = sum(isinstance(m, nn.Dropout) for m in model.modules())
    assert use_fast_dropout(model, "cpu") == before > 0
    attention = model.base_model.encoder.layer[0].attention.self
    assert isinstance(attention.dropout, FastDropout)
    assert attention.dropout.p == model.config.attention_probs_dropout_prob
    model.train()
    ids = torch.randint(5, 20, (2, 6))
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([0, 1]))
    out.loss.backward()
    assert torch.isfinite(out.loss)


# ---------------------------------------------------------------- attention dropout
def _attention_inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    query, key, value = (torch.randn(3, 4, 7, 8, generator=generator) for _ in range(3))
    mask = torch.ones(3, 1, 7, 7, dtype=torch.bool)
    mask[1, :, :, 5:] = False  # the second text is 5 tokens long, padded to 7
    return query, key, value, mask


class _Attention(nn.Module):
    is_causal = False


def test_attention_math_path_is_sdpa_apart_from_the_mask(monkeypatch):
    from ftstudio.engine.speed import fast_dropout

    query, key, value, mask = _attention_inputs()
    expected = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask).transpose(1, 2)
    # With the dropout mask taken out, the fast path must be exactly sdpa's attention.
    monkeypatch.setattr(fast_dropout, "fast_dropout", lambda x, p: x)
    out, weights = fast_dropout.sdpa_with_fast_dropout(_Attention(), query, key, value, mask, dropout=0.1)
    assert weights is None and out.shape == (3, 7, 4, 8) and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_attention_dropout_drops_weights_and_follows_the_seed():
    from ftstudio.engine.speed.fast_dropout import sdpa_with_fast_dropout

    query, key, value, mask = _attention_inputs()
    no_drop, _ = sdpa_with_fast_dropout(_Attention(), query, key, value, mask, dropout=0.0)
    torch.manual_seed(5)
    first, _ = sdpa_with_fast_dropout(_Attention(), query, key, value, mask, dropout=0.3)
    torch.manual_seed(5)
    again, _ = sdpa_with_fast_dropout(_Attention(), query, key, value, mask, dropout=0.3)
    assert torch.equal(first, again)
    assert not torch.allclose(first, no_drop)
    # Padding stays masked under dropout: changing padded keys and values changes nothing.
    key2, value2 = key.clone(), value.clone()
    key2[1, :, 5:], value2[1, :, 5:] = 100.0, 100.0
    torch.manual_seed(5)
    padded_changed, _ = sdpa_with_fast_dropout(_Attention(), query, key2, value2, mask, dropout=0.3)
    torch.testing.assert_close(padded_changed, first)


def test_attention_stays_stock_sdpa_where_the_fast_path_does_not_apply(monkeypatch):
    from transformers.integrations import sdpa_attention

    from ftstudio.engine.speed.fast_dropout import sdpa_with_fast_dropout

    calls = []
    monkeypatch.setattr(sdpa_attention, "sdpa_attention_forward", lambda *a, **k: calls.append(k) or ("stock", None))
    query, key, value, mask = _attention_inputs()

    class Causal(nn.Module):
        is_causal = True

    assert sdpa_with_fast_dropout(Causal(), query, key, value, None, dropout=0.1)[0] == "stock"  # a decoder
    assert sdpa_with_fast_dropout(_Attention(), query, key, value, mask, dropout=0.0)[0] == "stock"  # evaluation
    float_mask = torch.zeros(3, 1, 7, 7)
    assert sdpa_with_fast_dropout(_Attention(), query, key, value, float_mask, dropout=0.1)[0] == "stock"
    assert sdpa_with_fast_dropout(_Attention(), query, key[:, :2], value[:, :2], None, dropout=0.1)[0] == "stock"
    assert len(calls) == 4


def test_models_train_with_fast_attention_dropout_and_save_plain_sdpa(tmp_path):
    import json

    from transformers import AutoModelForSequenceClassification, BertConfig

    from ftstudio.engine.speed.fast_dropout import ATTENTION_NAME

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    reference = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    reference.load_state_dict(model.state_dict())
    use_fast_dropout(model, "cpu")
    assert model.config._attn_implementation == ATTENTION_NAME
    ids = torch.randint(3, 50, (4, 9))
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[2, 4:] = 0
    model.eval(), reference.eval()
    with torch.no_grad():  # evaluation: plain sdpa, the same logits
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits,
                                   reference(input_ids=ids, attention_mask=mask).logits)
    model.train()
    model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert not any("attn" in name for name in saved)  # checkpoints load as ordinary sdpa models


def test_causal_models_keep_plain_sdpa():
    from transformers import AutoModelForSequenceClassification, GPT2Config

    config = GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=32, num_labels=2, pad_token_id=0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    assert use_fast_dropout(model, "cpu") > 0  # its dropout modules still get the fast mask
    assert model.config._attn_implementation == "sdpa"  # causal attention gains nothing from the variant
