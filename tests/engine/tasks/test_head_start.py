"""A fresh head starts where its task says (multi-label: the label priors); a trained head,
or a switched-off start, keeps its weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from ftstudio.engine.models.head import head_is_new, output_layer, set_output_bias
from ftstudio.engine.models.loading import load_model_and_tokenizer
from ftstudio.engine.tasks.registry import TASKS
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import Recorder, tiny_settings
from tests.task_data import write_multilabel

PRIOR_LINE = "The head starts from the label priors"


class LogRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.logs: list[str] = []

    def on_log(self, message: str) -> None:
        self.logs.append(message)


def test_multi_label_bias_is_the_smoothed_log_odds_of_each_labels_frequency():
    targets = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32)
    bias, line = TASKS["multi-label"].initial_head_bias(targets, ["a", "b", "c"])
    prior = (np.array([3, 0, 1]) + 0.5) / 5.0
    np.testing.assert_allclose(bias, np.log(prior / (1 - prior)))
    assert np.all(np.isfinite(bias)) and bias[0] > 0 > bias[2] > bias[1]
    assert line.startswith(PRIOR_LINE)


@pytest.mark.parametrize("name", ["single-label", "regression"])
def test_other_tasks_keep_the_models_own_initialisation(name):
    assert TASKS[name].initial_head_bias(np.zeros((4, 1)), ["score"]) is None


def test_a_head_is_new_on_an_encoder_checkpoint_and_kept_on_a_classifier_with_the_same_labels(tiny_model_dir, tmp_path):
    fresh = load_model_and_tokenizer(tiny_model_dir, ["a", "b", "c"], task=TASKS["multi-label"])
    assert fresh.new_head
    layer = output_layer(fresh.model, 3)
    assert layer is fresh.model.classifier
    assert set_output_bias(fresh.model, np.array([1.0, -2.0, 0.5]))
    assert layer.bias.tolist() == [1.0, -2.0, 0.5]
    assert not set_output_bias(fresh.model, np.zeros(5))  # no layer of that width
    fresh.model.save_pretrained(tmp_path / "trained")
    fresh.tokenizer.save_pretrained(tmp_path / "trained")
    again = load_model_and_tokenizer(tmp_path / "trained", ["a", "b", "c"], task=TASKS["multi-label"])
    assert not again.new_head
    other = load_model_and_tokenizer(tmp_path / "trained", ["a", "b", "c", "d"], task=TASKS["multi-label"])
    assert other.new_head  # another task's head replaced by a fresh one
    assert head_is_new(again.model, {"missing_keys": ["classifier.bias"]})
    assert not head_is_new(again.model, {"missing_keys": ["bert.pooler.dense.bias"]})


def _bias(run_dir):
    return load_file(str(run_dir / "last" / "model.safetensors"))["classifier.bias"]


def test_a_multi_label_run_starts_from_the_priors_and_a_trained_head_is_left_alone(tiny_model_dir, tmp_path, monkeypatch):
    data = write_multilabel(tmp_path / "ml.jsonl", n=120)
    # One step at a negligible learning rate: the saved bias is the starting one.
    settings = tiny_settings(tiny_model_dir, data, max_steps=1, learning_rate=1e-9, warmup_ratio=0.0)
    logs = LogRecorder()
    first = train(settings, tmp_path / "first", reporter=logs)
    assert first.status == "finished", first.message
    assert any(line.startswith(PRIOR_LINE) for line in logs.logs)
    names = json.loads((first.run_dir / "last" / "config.json").read_text())["id2label"]
    rows = [json.loads(line)["labels"] for line in data.read_text().splitlines()]
    # The priors come from the training split only; they are close to the whole file's frequencies.
    frequency = np.array([np.mean([names[str(i)] in row for row in rows]) for i in range(len(names))])
    np.testing.assert_allclose(_bias(first.run_dir), np.log(frequency / (1 - frequency)), atol=0.25)

    logs = LogRecorder()
    again = train(settings.replace(model=str(first.run_dir / "last")), tmp_path / "again", reporter=logs)
    assert again.status == "finished", again.message
    assert not any(line.startswith(PRIOR_LINE) for line in logs.logs)
    np.testing.assert_allclose(_bias(again.run_dir), _bias(first.run_dir), atol=1e-6)

    monkeypatch.setenv("FTSTUDIO_PRIOR_BIAS", "0")
    logs = LogRecorder()
    off = train(settings, tmp_path / "off", reporter=logs)
    assert off.status == "finished", off.message
    assert not any(line.startswith(PRIOR_LINE) for line in logs.logs)
    assert np.abs(_bias(off.run_dir)).max() < 0.01  # transformers starts a head's bias at zero


def test_token_classification_starts_from_each_tags_share_of_the_training_words():
    names = ["O", "B-person", "I-person", "B-place", "I-place"]
    targets = np.empty(2, dtype=object)
    targets[:] = [np.array([0, 0, 1, 2]), np.array([0, 0, 0, 1])]
    bias, line = TASKS["token-classification"].initial_head_bias(targets, names)
    counts = np.array([5, 2, 1, 0, 0]) + 0.5
    expected = np.log(counts / counts.sum())
    np.testing.assert_allclose(bias, expected - expected.mean())
    probabilities = np.exp(bias) / np.exp(bias).sum()
    np.testing.assert_allclose(probabilities, counts / counts.sum())  # softmax gives the priors back
    assert line.startswith("The head starts from the tag priors")


def test_token_classification_marks_words_as_inside_text_for_byte_level_tokenizers(tmp_path):
    """RoBERTa-style tokenizers encode a word differently at the start of a text: pre-split words
    are read as following a space, as the pipeline will see them in plain text."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizer

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(["great love seat flight the a"] * 20, vocab_size=300, min_frequency=1,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    trainer.save_model(str(tmp_path))
    folder = tmp_path / "roberta"
    # (transformers 5 takes vocab= and merges=; vocab_file= would give a 5-token vocabulary)
    RobertaTokenizer(vocab=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt")).save_pretrained(folder)
    config = RobertaConfig(vocab_size=300, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=20, max_position_embeddings=40)
    RobertaForMaskedLM(config).save_pretrained(folder)
    tokens = load_model_and_tokenizer(folder, ["O", "B-x", "I-x"], task=TASKS["token-classification"])
    texts = load_model_and_tokenizer(folder, ["a", "b"], task=TASKS["single-label"])
    assert tokens.tokenizer.add_prefix_space is True and texts.tokenizer.add_prefix_space is False
    words = tokens.tokenizer(["flight"], is_split_into_words=True)["input_ids"]
    assert tokens.tokenizer.convert_ids_to_tokens(words)[1] == "Ġflight"  # read as inside a text, as the pipeline sees it
    tokens.tokenizer.save_pretrained(tmp_path / "saved")  # as every checkpoint stores it
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(str(tmp_path / "saved")).add_prefix_space is True
