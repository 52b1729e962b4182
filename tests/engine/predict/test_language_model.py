"""Predictions from pre-training checkpoints: masks filled by an encoder, text continued by a
decoder, the base model as the "before", and the checkpoints told apart from classifiers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftstudio.engine.errors import CheckpointError, DatasetError
from ftstudio.engine.predict.language_checkpoints import (
    checkpoint_base_model,
    checkpoint_objective,
    mask_words,
    model_display_name,
)
from ftstudio.engine.predict.language_model import LanguageModelPredictor
from ftstudio.engine.predict.predictor import Predictor, load_predictor, resolve_checkpoint
from tests.language_models import (
    MASKED_PROMPT,
    build_causal_lm,
    build_masked_lm,
    write_pretrain_run,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Untrained and taught tiny encoders and decoders, and a pre-training run of each."""
    root = tmp_path_factory.mktemp("lm")
    found = {"mlm-base": build_masked_lm(root / "mlm-base"), "mlm": build_masked_lm(root / "mlm", teach=True),
             "clm-base": build_causal_lm(root / "clm-base"), "clm": build_causal_lm(root / "clm", teach=True)}
    found["mlm-run"] = write_pretrain_run(root / "runs", found["mlm"], str(found["mlm-base"]), "masked")
    found["clm-run"] = write_pretrain_run(root / "runs", found["clm"], str(found["clm-base"]), "causal",
                                          name="20260101-130000-clm", state_base=False)
    return found


@pytest.fixture(scope="module")
def encoder(models) -> LanguageModelPredictor:
    return load_predictor(models["mlm-run"])


@pytest.fixture(scope="module")
def decoder(models) -> LanguageModelPredictor:
    return load_predictor(models["clm-run"])


def _with_architecture(src: Path, dst: Path, architecture: str, model_type: str | None = None) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["architectures"] = [architecture]
    if model_type:
        config["model_type"] = model_type
    (dst / "config.json").write_text(json.dumps(config))
    return dst


# ------------------------------------------------------------------ telling checkpoints apart
def test_language_model_checkpoints_resolve_and_others_are_refused(models, tmp_path):
    for architecture in ("BertForMaskedLM", "LlamaForCausalLM", "GPT2LMHeadModel"):
        folder = _with_architecture(models["mlm"], tmp_path / architecture, architecture)
        assert resolve_checkpoint(folder) == folder
    vision = _with_architecture(models["mlm"], tmp_path / "vision", "CLIPVisionModel", "clip_vision_model")
    with pytest.raises(CheckpointError, match="CLIPVisionModel checkpoint, not a text or token classifier"):
        resolve_checkpoint(vision)
    headless = _with_architecture(models["mlm"], tmp_path / "headless", "BertModel")
    with pytest.raises(CheckpointError, match="not a text or token classifier or a language model"):
        resolve_checkpoint(headless)


def test_objective_read_from_saved_task_or_architecture(models):
    assert checkpoint_objective(models["mlm-run"]) == "masked"
    assert checkpoint_objective(models["mlm-run"] / "checkpoints" / "step-10") == "masked"
    assert checkpoint_objective(models["clm-run"] / "best") == "causal"
    assert checkpoint_objective(models["mlm"]) == "masked"  # a stock folder: from its architecture
    assert checkpoint_objective(models["clm"]) == "causal"


def test_load_predictor_picks_the_kind_and_predictor_refuses_a_language_model(models, encoder, decoder):
    assert isinstance(encoder, LanguageModelPredictor) and encoder.objective == "masked"
    assert encoder.mask_token == "[MASK]" and encoder.max_length == 32 and not encoder.head_is_new
    assert encoder.path == models["mlm-run"] / "best"
    assert decoder.objective == "causal" and decoder.mask_token is None
    with pytest.raises(CheckpointError, match="language model .*fills masked words.*load_predictor"):
        Predictor(models["mlm-run"])


def test_a_classifier_checkpoint_still_gets_the_classification_predictor(tmp_path, tiny_model_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path / "classifier"
    AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    assert checkpoint_objective(folder) is None
    assert type(load_predictor(folder)) is Predictor


# ------------------------------------------------------------------ filling masks
def test_fill_mask_gives_each_mask_its_likeliest_words(encoder):
    [candidates] = encoder.fill_mask(MASKED_PROMPT, top_k=5)
    assert len(candidates) == 5
    assert candidates[0]["token"] == "great" and candidates[0]["score"] > 0.5
    assert candidates[0]["sequence"] == "the flight was great today"
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert not any(c["token"].startswith("[") for c in candidates)  # no special tokens offered


def test_mask_spellings_and_several_masks(encoder):
    typed = encoder.fill_mask("the flight was [mask] today", top_k=3)
    assert typed[0][0]["token"] == "great"
    both = encoder.fill_mask("the <mask> was [Mask] today", top_k=2)
    assert len(both) == 2 and all(len(c) == 2 for c in both)
    # Each mask's sequence fills that mask and leaves the other as the model's mask token.
    assert both[0][0]["sequence"].startswith("the ") and both[0][0]["sequence"].endswith("was [MASK] today")
    assert both[1][0]["sequence"].startswith("the [MASK] was ")


def test_text_without_mask_names_the_mask_token(encoder):
    with pytest.raises(DatasetError, match=r"type \[MASK\] where .* select a word"):
        encoder.fill_mask("the flight was great today")


def test_mask_beyond_the_window_is_refused_in_words(encoder):
    with pytest.raises(DatasetError, match="beyond the first 32 tokens"):
        encoder.fill_mask("the " * 60 + "[MASK]")


def test_mask_words_replaces_the_selection_with_one_mask(encoder):
    text = "the flight was great today"
    assert encoder.mask_words(text, 15, 20) == MASKED_PROMPT
    assert mask_words(text, 14, 21, "<mask>") == "the flight was <mask> today"  # edge spaces stay
    assert mask_words(text, 4, 20) == "the [MASK] today"  # several words, one mask
    with pytest.raises(DatasetError, match="Select a word"):
        mask_words(text, 3, 4)


def test_each_objective_refuses_the_others_question(encoder, decoder):
    with pytest.raises(DatasetError, match="next token"):
        decoder.fill_mask(MASKED_PROMPT)
    with pytest.raises(DatasetError, match=r"\[MASK\]"):
        encoder.continue_text("the flight")


# ------------------------------------------------------------------ continuing
def test_continue_text_is_greedy_and_gives_next_token_probabilities(decoder):
    answer = decoder.continue_text("the flight", max_new_tokens=20, top_k=4)
    assert answer["continuation"] == " was great and the crew was lovely"
    assert decoder.continue_text("the flight", max_new_tokens=20, top_k=4) == answer
    tokens = answer["next_tokens"]
    assert len(tokens) == 4 and tokens[0]["token"] == " was" and tokens[0]["score"] > 0.5
    assert [t["score"] for t in tokens] == sorted((t["score"] for t in tokens), reverse=True)
    assert decoder.continue_text("the flight", max_new_tokens=0)["continuation"] == ""
    with pytest.raises(DatasetError, match="beginning of a text"):
        decoder.continue_text("   ")


def test_long_prompt_keeps_its_end_within_the_positions(decoder):
    answer = decoder.continue_text("a plane seat " * 40 + "the flight", max_new_tokens=40)
    assert isinstance(answer["continuation"], str) and answer["next_tokens"]


# ------------------------------------------------------------------ the base model ("before")
def test_base_model_is_read_from_the_state_or_the_run_settings(models):
    assert checkpoint_base_model(models["mlm-run"] / "best") == str(models["mlm-base"])
    assert checkpoint_base_model(models["clm-run"] / "checkpoints" / "step-10") == str(models["clm-base"])
    assert checkpoint_base_model(models["mlm"]) is None  # a folder made elsewhere
    assert model_display_name("default") == "all-MiniLM-L6-v2"
    assert model_display_name(str(models["mlm-run"] / "best")) == "20260101-120000-pretrain/best"
    assert model_display_name("google-bert/bert-base-uncased") == "google-bert/bert-base-uncased"


def test_base_model_with_its_head_predicts(models):
    before = LanguageModelPredictor.base_model(str(models["mlm-base"]))
    assert before.objective == "masked" and not before.head_is_new
    assert before.fill_mask(MASKED_PROMPT, top_k=3)[0][0]["token"] != "great"  # untaught
    decoder = LanguageModelPredictor.base_model(str(models["clm-base"]))
    assert decoder.objective == "causal" and not decoder.head_is_new


def test_base_model_without_a_head_says_its_head_is_new(models, tmp_path):
    from transformers import BertModel

    headless = tmp_path / "headless"
    shutil.copytree(models["mlm-base"], headless)
    BertModel.from_pretrained(models["mlm-base"]).save_pretrained(headless)  # the encoder alone
    first = LanguageModelPredictor.base_model(str(headless), seed=3)
    again = LanguageModelPredictor.base_model(str(headless), seed=3)
    assert first.head_is_new and first.objective == "masked"
    assert first.fill_mask(MASKED_PROMPT, top_k=3) == again.fill_mask(MASKED_PROMPT, top_k=3)  # seeded


def test_embedded_default_model_has_no_masked_lm_head():
    base = LanguageModelPredictor.base_model("default")
    assert base.head_is_new and base.objective == "masked" and base.mask_token == "[MASK]"


# ------------------------------------------------------------------ a text file's perplexity
def test_perplexity_of_a_text_file_before_and_after(models, decoder, tmp_path):
    from ftstudio.engine.predict.text_perplexity import text_perplexity

    texts = tmp_path / "texts.txt"
    texts.write_text("the flight was great and the crew was lovely\n" * 3 + "\n", encoding="utf-8")
    steps = []
    after = text_perplexity(decoder, texts, progress=lambda done, total: steps.append((done, total)))
    before = text_perplexity(LanguageModelPredictor.base_model(str(models["clm-base"])), texts)
    assert after["rows"] == 3 and after["predicted_tokens"] > 0 and steps[-1][0] == steps[-1][1]
    assert after["perplexity"] < before["perplexity"]  # the taught decoder knows this sentence
    assert after["token_accuracy"] > before["token_accuracy"]
    with pytest.raises(DatasetError, match="not plain text"):
        text_perplexity(decoder, models["clm"] / "config.json")
