"""The CLI for every task type: train with --task and the pair / label flags, predict per task
(text, --pair, stdin with tabs, --json), test a labelled file, and `ftstudio data`."""

from __future__ import annotations

import io
import json

import pytest

from tests.cli.test_cli import run_cli, tiny_args
from tests.task_data import write_multilabel, write_pairs, write_regression


@pytest.fixture(scope="module")
def cli_runs(tiny_model_dir, tmp_path_factory):
    from ftstudio.cli.main import main

    tmp = tmp_path_factory.mktemp("cli-tasks")
    made = {
        "regression": (write_regression(tmp / "scores.csv"), ["--task", "regression", "--label-column", "score"]),
        "multi-label": (write_multilabel(tmp / "tags.csv", shape="delimited"), ["--label-separator", ";"]),
        "pairs": (write_pairs(tmp / "pairs.csv", header=("review", "claim", "label")),
                  ["--text-column", "review", "--text-pair-column", "claim"]),
    }
    found = {}
    for name, (data, flags) in made.items():
        out = tmp / f"run-{name}"
        assert main(["train", *tiny_args(tiny_model_dir, data), "--quiet", "--output", str(out), *flags]) == 0
        found[name] = (out, data)
    return found


def test_train_prints_the_tasks_metrics(capsys, tiny_model_dir, tmp_path):
    data = write_regression(tmp_path / "scores.csv")
    code, out, err = run_cli(capsys, "train", *tiny_args(tiny_model_dir, data), "--task", "regression",
                             "--output", str(tmp_path / "run"))
    assert code == 0, err
    assert "task: Regression" in out and "RMSE" in out and "Pearson r" in out and "accuracy" not in out
    assert "Best rmse:" in out


def test_predict_regression_prints_the_score(capsys, cli_runs):
    run, _ = cli_runs["regression"]
    code, out, err = run_cli(capsys, "predict", str(run), "great happy flight")
    assert code == 0, err and out.startswith("score ")
    code, out, _ = run_cli(capsys, "predict", str(run), "great happy flight", "--json")
    record = json.loads(out)
    assert record["label"] == "score" and isinstance(record["value"], float) and "probabilities" not in record


def test_predict_multi_label_marks_the_chosen_labels(capsys, cli_runs):
    run, _ = cli_runs["multi-label"]
    code, out, err = run_cli(capsys, "predict", str(run), "bad delayed crew", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert set(record["probabilities"]) == {"crew", "negative", "neutral", "positive", "urgent"}
    assert record["labels"] == [n for n, p in record["probabilities"].items() if p >= record["thresholds"][n]]
    code, out, _ = run_cli(capsys, "predict", str(run), "bad delayed crew")
    assert code == 0 and "crew" in out


def test_predict_pairs_from_flags_and_stdin(capsys, monkeypatch, cli_runs):
    run, _ = cli_runs["pairs"]
    code, out, err = run_cli(capsys, "predict", str(run), "great flight", "--pair", "this is positive", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["text_pair"] == "this is positive" and record["label"] in ("agree", "disagree")
    monkeypatch.setattr("sys.stdin", io.StringIO("great flight\tthis is positive\nawful bag\tthis is negative\n"))
    code, out, err = run_cli(capsys, "predict", str(run), "-")
    assert code == 0, err and len(out.strip().splitlines()) == 2 and "||" in out
    code, _, err = run_cli(capsys, "predict", str(run), "great flight")
    assert code == 2 and "--pair" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("no tab here\n"))
    code, _, err = run_cli(capsys, "predict", str(run), "-")
    assert code == 2 and "tab" in err


def test_predict_file_reports_the_tasks_metrics(capsys, cli_runs):
    run, data = cli_runs["multi-label"]
    code, out, err = run_cli(capsys, "predict", str(run), "--file", str(data))
    assert code == 0, err
    assert "micro F1" in out and "subset accuracy" in out and "urgent" in out
    run, data = cli_runs["regression"]
    code, out, err = run_cli(capsys, "predict", str(run), "--file", str(data), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "regression" and {"rmse", "pearson", "r2", "scatter"} <= set(report)
    run, data = cli_runs["pairs"]
    code, out, err = run_cli(capsys, "predict", str(run), "--file", str(data))
    assert code == 0, err and "accuracy" in out


def test_data_command_summarises_each_task(capsys, tmp_path):
    code, out, err = run_cli(capsys, "data", str(write_multilabel(tmp_path / "ml.jsonl")))
    assert code == 0, err
    assert "Multi-label classification" in out and "labels per row" in out
    code, out, err = run_cli(capsys, "data", str(write_regression(tmp_path / "r.csv")), "--task", "regression")
    assert code == 0, err and "scores mean" in out
