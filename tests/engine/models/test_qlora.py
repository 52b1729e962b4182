"""QLoRA (lora_4bit): refused in words, before anything is loaded or written, without strategy
lora, off a CUDA GPU, or without bitsandbytes; the 4-bit loading arguments are the QLoRA recipe.
(The CUDA path itself needs a GPU and bitsandbytes: not run here.)"""

from __future__ import annotations

import importlib.util

import pytest

from ftstudio.engine.models.adapters import QLORA_INSTALL, four_bit_loading, prepare_four_bit, qlora_problem
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train


def _settings(model, data, **changes) -> TrainSettings:
    base = dict(model=str(model), data=str(data), epochs=1, batch_size=8, max_length=32, lora_4bit=True,
                strategy="lora")
    base.update(changes)
    return TrainSettings(**base)


def _refused(settings, runs_dir, monkeypatch) -> str:
    """The run's failure message; nothing was written and the model was never loaded."""
    from ftstudio.engine.models import loading

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(loading, "load_model_and_tokenizer", never)
    result = train(settings, runs_dir=runs_dir)
    assert result.status == "failed"
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), "a refused run left a run folder"
    return result.message


def test_without_strategy_lora_it_is_refused(tmp_path, tiny_model_dir, small_csv, monkeypatch):
    message = _refused(_settings(tiny_model_dir, small_csv, strategy="full"), tmp_path / "runs", monkeypatch)
    assert message.startswith("lora_4bit: ") and "strategy is full" in message and "Set strategy to lora" in message


def test_on_the_cpu_it_is_refused(tmp_path, tiny_model_dir, small_csv, monkeypatch):
    message = _refused(_settings(tiny_model_dir, small_csv, device="cpu"), tmp_path / "runs", monkeypatch)
    assert message.startswith("lora_4bit: ") and "need a CUDA GPU" in message and "on the CPU" in message
    assert QLORA_INSTALL in message and "Turn lora_4bit off" in message


def test_without_bitsandbytes_it_is_refused_naming_the_extra(tmp_path, tiny_model_dir, small_csv, monkeypatch):
    import torch

    from ftstudio.engine.models import devices

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a))
    monkeypatch.setattr(devices, "resolve_device", lambda setting: torch.device("cuda", 0))  # a GPU, as far as
    monkeypatch.setattr(devices, "resolve_precision", lambda setting, device: "bf16")  # the run can tell
    message = _refused(_settings(tiny_model_dir, small_csv), tmp_path / "runs", monkeypatch)
    assert message == ("lora_4bit: 4-bit base weights (QLoRA) need bitsandbytes, which is not installed: "
                       "pip install 'ftstudio[qlora]'. Or turn lora_4bit off.")


def test_without_accelerate_too_both_are_named():
    import torch

    real_find_spec = importlib.util.find_spec
    missing = {"bitsandbytes", "accelerate"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in missing else real_find_spec(name, *a))
        message = qlora_problem(TrainSettings(strategy="lora", lora_4bit=True), torch.device("cuda", 0))
    assert "need bitsandbytes and accelerate, which are not installed: pip install 'ftstudio[qlora]'" in message


def test_the_problem_in_words_per_device_and_none_when_off():
    import torch

    on = TrainSettings(strategy="lora", lora_4bit=True)
    assert qlora_problem(on.replace(lora_4bit=False), torch.device("cpu")) is None
    assert "an Apple GPU (MPS)" in qlora_problem(on, torch.device("mps"))
    if importlib.util.find_spec("bitsandbytes") is not None:
        assert qlora_problem(on, torch.device("cuda", 0)) is None


def test_four_bit_loading_is_the_qlora_recipe():
    import torch

    pytest.importorskip("transformers")
    arguments = four_bit_loading(torch.device("cuda", 1), "bf16")
    config = arguments["quantization_config"]
    assert arguments["device_map"] == {"": 1}
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert config.bnb_4bit_compute_dtype == torch.bfloat16
    assert "score" in config.llm_int8_skip_modules and ".*classifier" in config.llm_int8_skip_modules
    # A GPU without bf16 (precision resolved to fp16) computes in fp16.
    assert four_bit_loading(torch.device("cuda", 0), "fp16")["quantization_config"].bnb_4bit_compute_dtype == torch.float16


def test_the_preparation_freezes_and_leaves_checkpointing_to_the_trainer(tiny_model_dir):
    from ftstudio.engine.models.checkpointing import is_checkpointing
    from ftstudio.engine.models.loading import load_model_and_tokenizer

    model = load_model_and_tokenizer(str(tiny_model_dir), ["a", "b"]).model
    prepare_four_bit(model)
    assert not any(p.requires_grad for p in model.parameters())
    assert not is_checkpointing(model)
