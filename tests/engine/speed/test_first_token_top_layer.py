"""The top layer computing the first token only: same logits, same gradients, refused where it
would not be exact, and invisible in what a run saves."""

from __future__ import annotations

import pytest
import torch

from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.speed import first_token_top_layer as top
from ftstudio.engine.training.train import train
from tests.engine.speed.test_speed_levers import Logs

VOCAB = 120


def _tiny(kind: str) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification as Auto
    from transformers import BertConfig, ElectraConfig, RobertaConfig

    shape = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, max_position_embeddings=64, num_labels=3)
    config = {"bert": BertConfig, "roberta": RobertaConfig, "electra": ElectraConfig}[kind](**shape)
    if kind == "electra":
        config.embedding_size = 16  # ELECTRA's smaller embeddings, projected up to the hidden size
    torch.manual_seed(0)
    return Auto.from_config(config, attn_implementation="sdpa")


def _padded_batch(rows: int = 6, width: int = 12, seed: int = 1) -> dict[str, torch.Tensor]:
    """Rows of different lengths padded to the longest: the mask matters."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, width), generator=generator)
    ids[:, 0] = 2  # a first token every row shares, as [CLS] / <s>
    mask = torch.ones(rows, width, dtype=torch.long)
    for row in range(rows):
        length = width - 2 * row
        ids[row, length:] = 1
        mask[row, length:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("kind", ["bert", "roberta", "electra"])
def test_reduced_top_layer_gives_the_full_models_logits_and_gradients(kind):
    model = _tiny(kind)
    batch = _padded_batch()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    model.eval()  # no dropout: the two forward passes must agree exactly, gradients included

    def loss_and_grads():
        model.zero_grad()
        out = model(**batch, labels=labels)
        out.loss.backward()
        return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    full_logits, full_grads = loss_and_grads()
    assert top.use_first_token_top_layer(model, batch) is None
    assert top.is_used(model)
    assert model.training is False  # the check leaves the mode it found
    reduced_logits, reduced_grads = loss_and_grads()
    torch.testing.assert_close(reduced_logits, full_logits, rtol=1e-5, atol=1e-6)
    assert reduced_grads.keys() == full_grads.keys()
    for name, grad in full_grads.items():
        torch.testing.assert_close(reduced_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # The top layer really computes one position: its output has one token.
    hidden = model.base_model(**batch).last_hidden_state
    assert hidden.shape[1] == 1
    top.remove(model)
    assert not top.is_used(model)
    assert model.base_model(**batch).last_hidden_state.shape[1] == batch["input_ids"].shape[1]


def test_reduced_top_layer_trains_with_dropout_and_keeps_the_state_dict():
    model = _tiny("bert").train()
    keys = list(model.state_dict())
    assert top.use_first_token_top_layer(model, _padded_batch()) is None
    assert model.training  # restored after the check
    loss = model(**_padded_batch(seed=4), labels=torch.zeros(6, dtype=torch.long)).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert list(model.state_dict()) == keys


def test_refused_where_it_would_not_be_exact(monkeypatch):
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model = _tiny("bert")
    monkeypatch.setenv(top.ENV_SWITCH, "0")
    assert "turned off" in top.use_first_token_top_layer(model, _padded_batch())
    monkeypatch.delenv(top.ENV_SWITCH)
    distil = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=VOCAB, dim=32, n_layers=1, n_heads=4, hidden_dim=64, max_position_embeddings=64))
    assert "distilbert" in top.use_first_token_top_layer(distil, _padded_batch())
    monkeypatch.setattr(model.config, "is_decoder", True)
    assert "decoder" in top.unavailable_reason(model)
    monkeypatch.setattr(model.config, "is_decoder", False)
    model.config._attn_implementation = "flash_attention_2"
    assert "flash_attention_2" in top.unavailable_reason(model)
    assert not top.is_used(model) and not top.is_used(distil)


def test_a_layer_that_does_not_reproduce_the_model_is_put_back(monkeypatch):
    model = _tiny("bert").eval()
    batch = _padded_batch()
    with torch.no_grad():
        before = model(**batch).logits

    def wrong(layer, hidden_states, *args, **kwargs):
        return torch.zeros_like(hidden_states[:, :1])

    monkeypatch.setattr(top, "_first_token_forward", wrong)
    assert "did not reproduce" in top.use_first_token_top_layer(model, batch)
    assert not top.is_used(model)

    def broken(layer, hidden_states, *args, **kwargs):
        raise AttributeError("no such part")

    monkeypatch.setattr(top, "_first_token_forward", broken)
    assert "failed (AttributeError)" in top.use_first_token_top_layer(model, batch)
    assert not top.is_used(model)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, before)


def test_a_full_run_uses_it_and_saves_a_stock_checkpoint(tiny_model_dir, small_csv, runs_dir):
    from transformers import pipeline

    logs = Logs()
    settings = TrainSettings(model=str(tiny_model_dir), data=str(small_csv), epochs=1, batch_size=8,
                             max_length=32, learning_rate=1e-3, seed=3, strategy="full")
    result = train(settings, runs_dir=runs_dir, reporter=logs)
    assert result.status == "finished", result.message
    assert any("first-token top layer on" in line for line in logs.lines), logs.lines
    # The saved model is the ordinary one: stock transformers computes every token of it.
    classify = pipeline("text-classification", model=str(result.run_dir / "best"), top_k=None)
    scores = classify(["the flight was fine"])[0]
    assert len(scores) == 3 and abs(sum(s["score"] for s in scores) - 1) < 1e-5
    evals = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "eval"]
    assert evals and 0.0 <= evals[-1]["accuracy"] <= 1.0
