"""The CLI for every task type: train with --task and the pair / label flags, predict per task
(text, --pair, stdin with tabs, --json), test a labelled file, and `ftstudio data`."""

from __future__ import annotations

import io
import json

import pytest

from tests.cli.test_cli import run_cli, tiny_args
from tests.task_data import write_multilabel, write_ner, write_pairs, write_regression


@pytest.fixture(scope="module")
def cli_runs(tiny_model_dir, tmp_path_factory):
    from ftstudio.cli.main import main

    tmp = tmp_path_factory.mktemp("cli-tasks")
    made = {
        "regression": (write_regression(tmp / "scores.csv"), ["--task", "regression", "--label-column", "score"]),
        "multi-label": (write_multilabel(tmp / "tags.csv", shape="delimited"), ["--label-separator", ";"]),
        "pairs": (write_pairs(tmp / "pairs.csv", header=("review", "claim", "label")),
                  ["--text-column", "review", "--text-pair-column", "claim"]),
        "token-classification": (write_ner(tmp / "ner.conll", n=240), ["--epochs", "8", "--learning-rate", "5e-3"]),
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


def test_token_classification_from_the_command_line(capsys, cli_runs, tmp_path):
    run, data = cli_runs["token-classification"]
    code, out, err = run_cli(capsys, "predict", str(run), "the great love was on the seat")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("2 entities") and "person" in lines[1] and "[4:14]  great love" in lines[1]
    code, out, err = run_cli(capsys, "predict", "--json", str(run), "the great love was on the seat")
    record = json.loads(out)
    assert [(e["type"], e["text"], e["start"], e["end"]) for e in record["entities"]] == [
        ("person", "great love", 4, 14), ("place", "seat", 26, 30)]
    test_file = write_ner(tmp_path / "test.iob", n=40, seed=3, scheme="IOB1")
    code, out, err = run_cli(capsys, "predict", str(run), "--file", str(test_file))
    assert code == 0, err
    assert "Token classification on 40 sentences" in out and "entity F1" in out and "entity type" in out
    assert "true (rows) against predicted (columns)" in out
    code, out, err = run_cli(capsys, "data", str(data))
    assert code == 0, err
    assert "Token classification" in out and "sentences" in out and "entities: person" in out


@pytest.mark.parametrize("content, expected", [
    ("great\tB-person\nflight\n\n", "line 2 has a token without a tag"),
    ("great\tO\nflight\tO\n\nthe\tO\n\n", "no entity tags"),
])
def test_bad_token_data_is_one_line_and_exit_2(capsys, tiny_model_dir, tmp_path, content, expected):
    data = tmp_path / "bad.conll"
    data.write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "train", *tiny_args(tiny_model_dir, data), "--output", str(tmp_path / "run"))
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()
