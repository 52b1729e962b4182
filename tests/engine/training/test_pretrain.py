"""Continued pre-training end to end on tiny models: masked-LM for an encoder (with and without
its head), next-token prediction for a decoder, checkpoints that stock pipelines load, the
"before" evaluation, every freezing strategy, and refusals in words."""

from __future__ import annotations

import json

import pytest

from ftstudio.engine.runs import folder as runs
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import Recorder, tiny_settings
from tests.language_models import build_headless_encoder, build_tiny_decoder, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    return build_tiny_decoder(tmp_path_factory.mktemp("decoder") / "tiny-llama")


@pytest.fixture(scope="module")
def headless_dir(tiny_model_dir, tmp_path_factory):
    return build_headless_encoder(tmp_path_factory.mktemp("headless") / "tiny-bert-bare", tiny_model_dir)


def _pretrain(model, data, out, **changes):
    recorder = Recorder()
    settings = tiny_settings(model, data, **{"task": "pretrain", "epochs": 3, **changes})
    return train(settings, out, reporter=recorder), recorder


def _evals(run_dir):
    return [r for r in runs.read_metrics(run_dir) if r["event"] == "eval" and r["split"] == "validation"]


def test_masked_lm_pretraining_lowers_perplexity_and_fill_mask_loads_it(tiny_model_dir, corpus, tmp_path):
    from transformers import pipeline

    result, recorder = _pretrain(tiny_model_dir, corpus, tmp_path / "mlm")
    assert result.status == "finished", result.message
    evals = _evals(result.run_dir)
    assert evals[0]["step"] == 0  # the "before", measured before the first step
    assert evals[-1]["perplexity"] < evals[0]["perplexity"]
    assert all(set(e) >= {"loss", "perplexity", "token_accuracy"} for e in evals)
    info = recorder.infos[0]
    assert info["objective"] == "masked" and info["new_head"] is False and info["label_names"] == []
    assert info["metrics"] == ["perplexity", "token_accuracy"] and info["best_metric"] == "perplexity"
    texts = info["data_summary"]["labels"]
    assert texts["kind"] == "texts" and texts["packed"] and texts["tokens"] > texts["blocks"] > 0
    assert any("masked-language modelling (15% of tokens masked)" in line for line in recorder.logs)
    config = json.loads((result.run_dir / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    state = json.loads((result.run_dir / "best" / "trainer_state.json").read_text())
    assert state["task"]["name"] == "pretrain" and state["label_names"] == []
    assert state["task"]["state"]["objective"] == "masked"
    assert state["task"]["state"]["base_model"] == str(tiny_model_dir)
    candidates = pipeline("fill-mask", model=str(result.run_dir / "best"), device="cpu")("the flight was [MASK]")
    assert len(candidates) == 5 and all(0 <= c["score"] <= 1 for c in candidates)


def test_a_model_without_its_head_gets_a_fresh_one_said_clearly(headless_dir, corpus, tmp_path):
    result, recorder = _pretrain(headless_dir, corpus, tmp_path / "bare", epochs=1)
    assert result.status == "finished", result.message
    assert recorder.infos[0]["new_head"] is True
    assert any("has no masked-language-modelling head" in line and "fresh head" in line for line in recorder.logs)
    config = json.loads((result.run_dir / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]  # the fresh head is saved: fill-mask works


def test_decoder_pretrains_with_next_token_prediction(decoder_dir, corpus, tmp_path):
    from transformers import pipeline

    result, recorder = _pretrain(decoder_dir, corpus, tmp_path / "clm", learning_rate=5e-3)
    assert result.status == "finished", result.message
    assert recorder.infos[0]["objective"] == "causal"
    assert any("next-token prediction" in line for line in recorder.logs)
    evals = _evals(result.run_dir)
    assert evals[0]["step"] == 0 and evals[-1]["perplexity"] < evals[0]["perplexity"] * 0.75
    assert json.loads((result.run_dir / "best" / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    generator = pipeline("text-generation", model=str(result.run_dir / "best"), device="cpu")
    assert generator("the flight", max_new_tokens=3, do_sample=False)[0]["generated_text"].startswith("the flight")


@pytest.mark.parametrize("strategy", ["head", "embeddings", "bottom-1", "gradual"])
def test_every_freezing_strategy_pretrains(tiny_model_dir, corpus, tmp_path, strategy):
    result, recorder = _pretrain(tiny_model_dir, corpus, tmp_path / strategy, epochs=2, strategy=strategy)
    assert result.status == "finished", result.message
    info = recorder.infos[0]
    assert 0 < info["trainable_params"] < info["total_params"] or strategy == "gradual"


def test_unpacked_texts_are_one_row_each(tiny_model_dir, corpus, tmp_path):
    result, recorder = _pretrain(tiny_model_dir, corpus, tmp_path / "lines", epochs=1, pack_texts=False)
    assert result.status == "finished", result.message
    texts = recorder.infos[0]["data_summary"]["labels"]
    assert texts["packed"] is False and texts["blocks"] == texts["texts"] == recorder.infos[0]["train_rows"]


def test_blocks_longer_than_the_model_reads_are_refused_before_a_run_folder(tiny_model_dir, corpus, tmp_path):
    runs_dir = tmp_path / "runs"
    result = train(tiny_settings(tiny_model_dir, corpus, task="pretrain", max_length=256), runs_dir=runs_dir)
    assert result.status == "failed" and result.input_error and result.run_dir is None
    assert "max_length: 256 tokens per block is more than" in result.message and "128 positions" in result.message
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_sequence_to_sequence_model_is_refused_in_words(tmp_path, corpus):
    from transformers import T5Config, T5ForConditionalGeneration

    from tests.conftest import build_tiny_model

    folder = build_tiny_model(tmp_path / "t5")  # a tokenizer to go with it
    T5ForConditionalGeneration(T5Config(vocab_size=80, d_model=16, d_ff=32, num_layers=1, num_heads=2,
                                        d_kv=8)).save_pretrained(folder)
    result = train(tiny_settings(folder, corpus, task="pretrain"), runs_dir=tmp_path / "runs")
    assert result.status == "failed" and result.input_error and "sequence-to-sequence" in result.message


def test_full_head_switch_gives_the_same_run(tiny_model_dir, corpus, tmp_path, monkeypatch):
    """The head on the masked positions only computes what the stock forward computes."""
    sparse, _ = _pretrain(tiny_model_dir, corpus, tmp_path / "sparse", epochs=1)
    monkeypatch.setenv("FTSTUDIO_FULL_LM_HEAD", "1")
    full, _ = _pretrain(tiny_model_dir, corpus, tmp_path / "full", epochs=1)
    for ours, stock in zip(_evals(sparse.run_dir), _evals(full.run_dir), strict=True):
        assert ours["loss"] == pytest.approx(stock["loss"], rel=1e-4)


def test_the_chain_keeps_the_pretrained_pooler_for_the_fine_tune(headless_dir, corpus, tmp_path, small_csv):
    """A masked-LM class drops the encoder's pooler; pre-training keeps it, so fine-tuning from
    the pre-trained checkpoint reads the pooler the base model was trained with."""
    import torch
    from safetensors.torch import load_file

    result, recorder = _pretrain(headless_dir, corpus, tmp_path / "pre", epochs=1)
    assert result.status == "finished", result.message
    assert any("pooler is kept" in line for line in recorder.logs)
    original = load_file(str(headless_dir / "model.safetensors"))
    saved = load_file(str(result.run_dir / "best" / "model.safetensors"))
    assert torch.equal(saved["bert.pooler.dense.weight"], original["pooler.dense.weight"])
    fine = Recorder()
    tuned = train(tiny_settings(result.run_dir / "best", small_csv, epochs=1), tmp_path / "fine", reporter=fine)
    assert tuned.status == "finished", tuned.message
    assert not any("pooler" in line for line in fine.logs if "Newly initialised" in line)
    assert json.loads((tuned.run_dir / "best" / "config.json").read_text())["architectures"] == [
        "BertForSequenceClassification"]
