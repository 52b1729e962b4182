"""Every task type trains end to end on a tiny model: checkpoints that stock transformers loads
with the task's output, predictions in the user's terms, resume bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftstudio.engine.data.batching import collate, tokenize_texts
from ftstudio.engine.events import TrainingControl
from ftstudio.engine.predict.file_evaluation import evaluate_file
from ftstudio.engine.predict.predictor import Predictor
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import Recorder, _evals, _step_losses, tiny_settings
from tests.language_models import write_corpus
from tests.task_data import write_multilabel, write_ner, write_pairs, write_regression

DATA = {
    "multi-label": lambda tmp: (write_multilabel(tmp / "ml.jsonl", n=240), {}),
    "multi-label tuned": lambda tmp: (write_multilabel(tmp / "ml.csv", shape="delimited"), {"tune_thresholds": True, "test_split": 0.2}),
    "regression": lambda tmp: (write_regression(tmp / "reg.csv"), {"task": "regression"}),
    "pairs": lambda tmp: (write_pairs(tmp / "pairs.csv"), {}),
}


@pytest.fixture(scope="module")
def task_runs(tiny_model_dir, tmp_path_factory):
    """One finished run per task (shared by the tests below: training is the slow part)."""
    tmp = tmp_path_factory.mktemp("task-runs")
    found = {}
    for name, make in DATA.items():
        data, changes = make(tmp)
        result = train(tiny_settings(tiny_model_dir, data, epochs=8, **changes), tmp / name.replace(" ", "-"))
        assert result.status == "finished", (name, result.message)
        found[name] = (result, data)
    return found


def _pipeline(run_dir):
    from transformers import pipeline

    return pipeline("text-classification", model=str(run_dir / "best"), device="cpu")


def test_multi_label_checkpoint_gives_sigmoid_scores_by_label_name(task_runs):
    result, data = task_runs["multi-label"]
    config = json.loads((result.run_dir / "best" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert sorted(config["id2label"].values()) == ["crew", "negative", "neutral", "positive", "urgent"]
    stock = _pipeline(result.run_dir)("bad delayed flight", top_k=None)
    ours = Predictor(result.run_dir).predict("bad delayed flight")[0]
    assert {row["label"]: pytest.approx(row["score"], abs=1e-5) for row in stock} == ours.probabilities
    assert ours.labels == [n for n, p in ours.probabilities.items() if p >= 0.5]
    metrics = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "eval"][-1]
    assert {"micro_f1", "macro_f1", "subset_accuracy", "per_label", "thresholds"} <= set(metrics)
    assert metrics["micro_f1"] > 0.5  # the labels are in the words: even the tiny model learns some


def test_tuned_thresholds_are_saved_and_used_by_the_predictor(task_runs):
    result, data = task_runs["multi-label tuned"]
    state = json.loads((result.run_dir / "best" / "trainer_state.json").read_text())["task"]["state"]
    assert state["tune_thresholds"] and len(state["thresholds"]) == 5 and state["separator"] == ";"
    prediction = Predictor(result.run_dir).predict("bad delayed crew")[0]
    assert list(prediction.thresholds.values()) == state["thresholds"]
    report = evaluate_file(Predictor(result.run_dir), str(data))
    assert report["task"] == "multi-label" and set(report["per_label"]) == set(prediction.probabilities)
    # The test split is measured with the thresholds tuned on validation, never tuned on itself.
    test = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "eval" and r["split"] == "test"]
    assert test and test[-1]["thresholds"] == state["thresholds"]


def test_regression_predicts_in_the_users_units_in_stock_transformers_too(task_runs):
    result, data = task_runs["regression"]
    config = json.loads((result.run_dir / "best" / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "score"}
    stock = _pipeline(result.run_dir)(["great happy flight", "awful lost bag"], function_to_apply="none")
    ours = Predictor(result.run_dir).predict(["great happy flight", "awful lost bag"])
    for row, prediction in zip(stock, ours, strict=True):
        assert row["label"] == "score" and row["score"] == pytest.approx(prediction.value, abs=1e-4)
    assert ours[0].value > ours[1].value  # positive words score higher (1..5 scale)
    report = evaluate_file(Predictor(result.run_dir), str(data))
    assert report["rmse"] < 1.0 and report["pearson"] > 0.8 and len(report["scatter"]) == report["rows"]
    # Metrics were reported in the data's units, as the file evaluation measures them.
    evals = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "eval"]
    assert all({"rmse", "mae", "mse", "pearson", "spearman", "r2"} <= set(r) for r in evals)


def test_pair_checkpoint_accepts_text_and_text_pair(task_runs):
    result, data = task_runs["pairs"]
    stock = _pipeline(result.run_dir)({"text": "great happy flight", "text_pair": "this is positive"})
    ours = Predictor(result.run_dir).predict("great happy flight", pairs="this is positive")[0]
    stock = stock[0] if isinstance(stock, list) else stock
    assert stock["label"] == ours.label and stock["score"] == pytest.approx(ours.score, abs=1e-5)
    with pytest.raises(Exception, match="second text"):
        Predictor(result.run_dir).predict("great happy flight")
    assert evaluate_file(Predictor(result.run_dir), str(data))["accuracy"] > 0.4


def test_pairs_carry_segment_ids(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    split = tokenize_texts(["good flight"], np.array([1]), tokenizer, 32, pairs=["this is positive"])
    batch = collate(split, np.array([0]), tokenizer.pad_token_id)
    assert batch["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


# Token classification resumes from its own made-up data (trained with the others above it would
# be a fifth run in `task_runs`; test_token_train.py has its own).
RESUMED = {**DATA, "token-classification": lambda tmp: (write_ner(tmp / "ner.conll", n=120), {}),
           # masks drawn afresh every batch (whole words): the draw is part of what resumes exactly
           "pretrain": lambda tmp: (write_corpus(tmp / "corpus.txt"),
                                    {"task": "pretrain", "whole_word_masking": True})}


@pytest.mark.parametrize("name", ["multi-label tuned", "regression", "pairs", "token-classification", "pretrain"])
def test_resume_is_exact_for_every_task(tiny_model_dir, tmp_path, name):
    data, changes = RESUMED[name](tmp_path)
    settings = tiny_settings(tiny_model_dir, data, epochs=2, save_steps=3, **changes)
    whole = train(settings, tmp_path / "whole")
    assert whole.status == "finished", whole.message
    control = TrainingControl()
    stopped = train(settings, tmp_path / "split", reporter=Recorder(control, stop_at=7), control=control)
    assert stopped.status == "stopped"
    resumed = train(run_dir=stopped.run_dir, resume=True)
    assert resumed.status == "finished", resumed.message
    assert _step_losses(resumed.run_dir) == _step_losses(whole.run_dir)
    assert _evals(resumed.run_dir) == _evals(whole.run_dir)
    best = lambda run: (run.run_dir / "best" / "model.safetensors").read_bytes()  # noqa: E731
    assert best(resumed) == best(whole)
