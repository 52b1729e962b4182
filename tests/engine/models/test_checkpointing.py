"""Gradient checkpointing (the gradient_checkpointing setting): on, each layer runs again in the
backward pass, and training computes exactly what it computes without it (full and LoRA, BERT
and decoders); a model that cannot do it is refused in words before a run folder exists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftstudio.engine.models import checkpointing
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train
from tests.conftest import make_texts, write_csv
from tests.decoder_models import build_decoder
from tests.engine.training.test_train import Recorder

ENABLE = checkpointing.enable_checkpointing


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _losses(model: Path, data: Path, folder: Path, monkeypatch, **changes) -> tuple[list[float], list]:
    """Per-step losses of a short run, and the models checkpointing was turned on for."""
    enabled: list = []

    def spy(model):
        ENABLE(model)
        enabled.append(model)

    monkeypatch.setattr(checkpointing, "enable_checkpointing", spy)
    settings = TrainSettings(model=str(model), data=str(data), epochs=1, batch_size=8, max_length=32,
                             learning_rate=5e-3, log_steps=1, eval_steps=100, seed=5, keep_checkpoints=1,
                             classifier_dropout=0.0, lora_dropout=0.0, **changes)
    recorder = Recorder()
    result = train(settings, folder, reporter=recorder)
    assert result.status == "finished", result.message
    return [step.loss for step in recorder.steps], enabled


@pytest.mark.parametrize(("family", "strategy"), [("gpt2", "full"), ("gpt2", "lora"), ("llama", "lora"),
                                                  ("bert", "full")])
def test_the_same_losses_with_and_without_checkpointing(family, strategy, tmp_path, tiny_model_dir, monkeypatch):
    """Decoders with dropout off; the tiny BERT keeps its 0.1 (the recomputation replays the
    random state, so even the dropout masks are the same)."""
    if family == "bert":
        model = tiny_model_dir
    else:
        model = build_decoder(tmp_path / family, family, dropout=0.0)
    data = write_csv(tmp_path / "data.csv", make_texts(40, classes=2))
    plain, none = _losses(model, data, tmp_path / "plain", monkeypatch, strategy=strategy)
    recomputed, enabled = _losses(model, data, tmp_path / "recomputed", monkeypatch, strategy=strategy,
                                  gradient_checkpointing=True)
    assert not none and len(enabled) == 1 and checkpointing.is_checkpointing(enabled[0])
    assert len(plain) == len(recomputed) >= 4
    assert recomputed == pytest.approx(plain, rel=1e-5, abs=1e-6)


def test_checkpointed_layers_run_again_in_the_backward_pass_and_give_the_same_gradients(tmp_path):
    """Not a flag that does nothing: a layer's insides run twice per step, gradients are equal
    (the frozen inputs of a LoRA model too: non-reentrant needs no input gradients)."""
    import torch

    from ftstudio.engine.models.adapters import attach_lora
    from ftstudio.engine.models.loading import load_model_and_tokenizer
    from ftstudio.engine.tasks.registry import TASKS

    folder = build_decoder(tmp_path / "gpt2", "gpt2", dropout=0.0)

    def gradients(on: bool) -> tuple[dict, int]:
        torch.manual_seed(0)  # the same fresh head and adapters both times
        loaded = load_model_and_tokenizer(str(folder), ["a", "b"])
        settings = TrainSettings(model=str(folder), strategy="lora", lora_dropout=0.0)
        attach_lora(loaded.model, settings, TASKS["single-label"], str(folder), True)
        model = loaded.model.train()
        if on:
            checkpointing.enable_checkpointing(model)
        calls = []
        # (The layer's own hooks fire once, its forward is what is wrapped; and a recomputation stops
        # as soon as it has what the backward pass needs, so a hook at the end of a module may never fire.)
        model.transformer.h[0].mlp.register_forward_pre_hook(lambda *args: calls.append(1))
        batch = loaded.tokenizer(["great flight today", "awful"], padding=True, return_tensors="pt")
        model(**batch, labels=torch.tensor([1, 0])).loss.backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
        return grads, len(calls)

    plain, plain_calls = gradients(False)
    recomputed, recomputed_calls = gradients(True)
    assert (plain_calls, recomputed_calls) == (1, 2)
    assert plain.keys() == recomputed.keys() and any("lora_A" in name for name in plain)
    for name, grad in plain.items():
        torch.testing.assert_close(recomputed[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def _tiny_albert(folder: Path, tokenizer_from: Path) -> Path:
    """ALBERT (no gradient checkpointing in transformers) with the tiny BERT's word vocabulary."""
    import torch
    from transformers import AlbertConfig, AlbertForMaskedLM

    folder.mkdir(parents=True)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        if (tokenizer_from / name).is_file():
            shutil.copy(tokenizer_from / name, folder / name)
    words = len((folder / "vocab.txt").read_text(encoding="utf-8").split())
    torch.manual_seed(0)
    AlbertForMaskedLM(AlbertConfig(vocab_size=words, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, intermediate_size=37,
                                   max_position_embeddings=64)).save_pretrained(folder)
    return folder


def test_a_model_without_checkpointing_is_refused_before_a_run_folder_exists(tmp_path, tiny_model_dir, small_csv):
    model = _tiny_albert(tmp_path / "albert", tiny_model_dir)
    runs_dir = tmp_path / "runs"
    settings = TrainSettings(model=str(model), data=str(small_csv), epochs=1, batch_size=8, max_length=32,
                             gradient_checkpointing=True)
    result = train(settings, runs_dir=runs_dir)
    assert result.status == "failed"
    assert result.message.startswith("gradient_checkpointing: AlbertForSequenceClassification (albert) does not "
                                     "support gradient checkpointing")
    assert "Turn it off" in result.message
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
    # Without it the same model trains.
    assert train(settings.replace(gradient_checkpointing=False), runs_dir=runs_dir).status == "finished"
