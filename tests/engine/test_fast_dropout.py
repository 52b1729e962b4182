"""FastDropout behaves as inverted dropout: right drop rate, right scale, reproducible, and only
replaces plain nn.Dropout modules for CPU training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ftstudio.engine.fast_dropout import ENV_SWITCH, FastDropout, use_fast_dropout


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
