"""The model card: front matter the Hub reads, the pipeline tag of each task, the lineage in words;
and every checkpoint gets one without a failing card ever failing the save."""

from __future__ import annotations

import json
import logging

import pytest

from ftstudio.engine.runs import checkpoints
from ftstudio.engine.runs.model_card import model_card
from tests.engine.runs.run_folders import make_run, trainer_state


def front_matter(card: str) -> dict[str, str]:
    """The YAML front matter as key: value pairs (every line is one)."""
    lines = card.splitlines()
    assert lines[0] == "---"
    end = lines.index("---", 1)
    pairs = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(": ")
        assert sep and key.isidentifier(), line
        pairs[key] = value
    return pairs


@pytest.mark.parametrize(("task", "objective", "tag"), [
    ("single-label", "", "text-classification"),
    ("multi-label", "", "text-classification"),
    ("regression", "", "text-classification"),
    ("token-classification", "", "token-classification"),
    ("pretrain", "masked", "fill-mask"),
    ("pretrain", "causal", "text-generation"),
])
def test_front_matter_and_pipeline_per_task(tmp_path, task, objective, tag):
    run = make_run(tmp_path, "r", task=task, model="google-bert/bert-base-uncased", objective=objective or "masked")
    card = model_card(run, trainer_state(task, "google-bert/bert-base-uncased", objective=objective or "masked",
                                         labels=["a", "b"]))
    meta = front_matter(card)
    assert meta == {"library_name": "transformers", "base_model": "google-bert/bert-base-uncased",
                    "pipeline_tag": tag, "tags": f"[ftstudio, {task}]"}
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(card.split("---")[1])["tags"] == ["ftstudio", task]
    assert f'pipeline("{tag}", model=folder' in card


def test_a_fine_tune_of_a_pretraining_run_says_its_lineage(tmp_path):
    pre = make_run(tmp_path, "pre", task="pretrain", model="default", data="/texts/corpus.txt")
    fine = make_run(tmp_path, "fine", model=str(pre / "best"), data="/data/tweets.csv")
    card = model_card(fine, trainer_state("single-label", "", labels=["negative", "positive"]))
    assert front_matter(card)["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert ("This model was fine-tuned from pre-training run `pre` on `tweets.csv`, itself continued pre-training of "
            "`sentence-transformers/all-MiniLM-L6-v2` on `corpus.txt`.") in card
    assert "(labels: negative, positive)" in card
    assert "Best validation macro F1 0.8000 at step 20." in card
    assert "| learning_rate | 5e-05 |" in card and "mlm_probability" not in card


def test_a_pretraining_card_names_its_objective_and_perplexity_before(tmp_path):
    pre = make_run(tmp_path, "pre", task="pretrain", model="default", data="/texts/corpus.txt")
    card = model_card(pre, trainer_state("pretrain", "default"))
    assert "This model continues the pre-training of `sentence-transformers/all-MiniLM-L6-v2` on `corpus.txt`." in card
    assert "masked-language modelling (15% of tokens masked)" in card
    assert "Best validation perplexity 9.5000 at step 20." in card
    assert "Before this pre-training: perplexity 40.0000." in card
    assert "| mlm_probability | 0.15 |" in card


def test_a_gone_ancestor_and_an_odd_base_spec(tmp_path):
    fine = make_run(tmp_path, "fine", model=str(tmp_path / "deleted" / "best"))
    card = model_card(fine, trainer_state("single-label", ""))
    assert "base_model" not in front_matter(card)  # unknown: left out rather than guessed
    assert "the folder of run `deleted`" in card and "is gone" in card
    odd = make_run(tmp_path, "odd", model="C:/models/my model")
    assert front_matter(model_card(odd, trainer_state("single-label", "")))["base_model"] == '"C:/models/my model"'


class _Tokenizer:
    def save_pretrained(self, folder):
        (folder / "tokenizer.json").write_text("{}", encoding="utf-8")


def _model():
    import torch

    class Model(torch.nn.Linear):
        def save_pretrained(self, folder, safe_serialization=True):
            (folder / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}), encoding="utf-8")

    return Model(2, 2)


def test_every_checkpoint_gets_a_card(tmp_path):
    run = make_run(tmp_path, "pre", task="pretrain", checkpoints=())
    path = checkpoints.save_checkpoint(run, 20, _model(), _Tokenizer(), trainer_state("pretrain", "default"), {},
                                       is_best=True, keep=2)
    for folder in (path, run / "best", run / "last"):
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert front_matter(card)["pipeline_tag"] == "fill-mask"


def test_a_failing_card_never_fails_the_save(tmp_path, monkeypatch, caplog):
    from ftstudio.engine.runs import model_card as cards

    def broken(*_args):
        raise ValueError("card trouble")

    monkeypatch.setattr(cards, "model_card", broken)
    run = make_run(tmp_path, "pre", task="pretrain", checkpoints=())
    with caplog.at_level(logging.WARNING, logger="ftstudio.engine.runs.checkpoints"):
        path = checkpoints.save_checkpoint(run, 20, _model(), _Tokenizer(), trainer_state("pretrain", "default"),
                                           {}, is_best=True, keep=2)
    assert checkpoints.is_complete(path) and checkpoints.is_complete(run / "best")
    assert not (path / "README.md").exists()
    assert "Could not write the model card" in caplog.text
