"""Predictions from runs the trainer really made (task pretrain): the run folder loads as a
language model, its base model is found, and the CLI prints its guesses."""

from __future__ import annotations

import pytest

from ftstudio.cli.main import main
from ftstudio.engine.predict.language_checkpoints import checkpoint_base_model, checkpoint_objective
from ftstudio.engine.predict.language_model import LanguageModelPredictor
from ftstudio.engine.predict.predictor import load_predictor
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import tiny_settings
from tests.language_models import build_headless_encoder, build_tiny_decoder, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt", lines=120)


def _pretrain(model, data, out):
    result = train(tiny_settings(model, data, task="pretrain", epochs=1), out)
    assert result.status == "finished", result.message
    return result.run_dir


def test_masked_run_fills_masks_and_names_its_base(tiny_model_dir, corpus, tmp_path, capsys):
    run = _pretrain(tiny_model_dir, corpus, tmp_path / "mlm")
    assert checkpoint_objective(run) == "masked"
    assert checkpoint_base_model(run / "best") == str(tiny_model_dir)
    predictor = load_predictor(run)
    [candidates] = predictor.fill_mask("the flight was [MASK] today", top_k=4)
    assert len(candidates) == 4 and all(c["sequence"].startswith("the flight was ") for c in candidates)
    before = LanguageModelPredictor.base_model(checkpoint_base_model(run))
    assert not before.head_is_new and len(before.fill_mask("a [MASK]", top_k=2)[0]) == 2
    assert main(["predict", str(run), "the [MASK] was late", "--top-k", "2"]) == 0
    assert capsys.readouterr().out.startswith("the [MASK] was late\n")


def test_run_from_a_headless_encoder_has_a_base_that_cannot_fill_masks(tiny_model_dir, corpus, tmp_path):
    headless = build_headless_encoder(tmp_path / "bare", tiny_model_dir)
    run = _pretrain(headless, corpus, tmp_path / "bare-run")
    assert load_predictor(run).fill_mask("the [MASK]", top_k=1)
    assert LanguageModelPredictor.base_model(checkpoint_base_model(run)).head_is_new


def test_decoder_run_continues_text(corpus, tmp_path, capsys):
    decoder = build_tiny_decoder(tmp_path / "llama")
    run = _pretrain(decoder, corpus, tmp_path / "clm")
    predictor = load_predictor(run)
    assert predictor.objective == "causal"
    answer = predictor.continue_text("the flight", max_new_tokens=5, top_k=3)
    assert len(answer["next_tokens"]) == 3 and answer == predictor.continue_text("the flight", 5, 3)
    assert main(["predict", str(run), "the flight", "--max-new-tokens", "3"]) == 0
    assert "  continuation: " in capsys.readouterr().out
