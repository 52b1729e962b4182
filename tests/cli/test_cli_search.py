"""`ftstudio search`: a study from the command line, its best settings trained, workers sharing
one SQLite study, a killed worker's study resumed, and bad inputs in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from ftstudio.engine.runs import folder as runs
from ftstudio.engine.search.results import read_study
from tests.cli.test_cli import run_cli
from tests.conftest import make_texts, write_csv

REPO = Path(__file__).resolve().parents[2]


def study_args(model: Path, data: Path, space: Path, output: Path, *extra: str) -> list[str]:
    return ["search", "--space", str(space), "--output", str(output), "--model", str(model), "--data", str(data),
            "--epochs", "2", "--batch-size", "16", "--max-length", "32", "--warmup-ratio", "0",
            "--set", "metric_for_best=loss", *extra]


@pytest.fixture
def texts(tmp_path) -> Path:
    return write_csv(tmp_path / "texts.csv", make_texts(300))


def write_space(path: Path, text: str) -> Path:
    path.write_text("[space]\n" + text, encoding="utf-8")
    return path


def test_search_prints_each_trial_and_a_summary_and_its_best_settings_train(capsys, tiny_model_dir, texts, tmp_path):
    space = write_space(tmp_path / "space.toml", 'learning_rate = [1e-2, 1e-7]\nfreeze = ["full", "head"]\n')
    code, out, err = run_cli(capsys, *study_args(tiny_model_dir, texts, space, tmp_path / "study", "--sampler",
                                                 "grid", "--pruner", "none"))
    assert code == 0, err
    assert "Study study (sqlite:///" in out and "4 trials, grid sampler, none pruner, minimize validation loss" in out
    assert out.count("trial ") >= 8 and "(best so far)" in out
    table = out[out.index("#  "):]
    assert "state" in table and "learning_rate" in table and "strategy" in table and table.count("complete") == 4
    best_file = tmp_path / "study" / "best_settings.toml"
    assert f"Train with them: ftstudio train --config {best_file}" in out
    assert "learning_rate = 0.01" in best_file.read_text()
    code, out, err = run_cli(capsys, "train", "--config", str(best_file), "--output", str(tmp_path / "again"))
    assert code == 0, err
    assert runs.read_settings(tmp_path / "again")["settings"]["learning_rate"] == 0.01


@pytest.mark.parametrize(("space", "args", "words"), [
    ('learning_rate = { low = 3e-4, high = 1e-5 }\n', [], "space.toml: learning_rate: the range is empty"),
    ('learnig_rate = [1e-4]\n', [], "unknown setting 'learnig_rate'"),
    ('batch_size = ["many"]\n', [], "setting 'batch_size' must be a whole number"),
    ('learning_rate = { low = 1e-5, high = 1e-3, log = true }\n', ["--sampler", "grid"],
     "grid sampler needs the values of 'learning_rate' listed"),
    ('epochs = [1]\n', ["--trials", "0"], "--trials must be between 1 and 100000"),
    ('epochs = [1]\n', ["--storage", "postgresql://me:secret@nowhere/db"], "database driver is missing"),
    (None, [], "Give the searched settings with --space"),
])
def test_bad_search_inputs_get_one_line_and_exit_2(capsys, tiny_model_dir, texts, tmp_path, space, args, words):
    path = write_space(tmp_path / "space.toml", space) if space is not None else None
    argv = study_args(tiny_model_dir, texts, path or Path("x"), tmp_path / "study", *args)
    if path is None:
        argv = [arg for index, arg in enumerate(argv) if arg != "--space" and argv[index - 1] != "--space"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
    assert "secret" not in err


def test_resume_refuses_a_new_space_and_a_folder_without_a_study(capsys, tmp_path):
    code, _, err = run_cli(capsys, "search", "--resume", "--output", str(tmp_path), "--lr", "1e-3")
    assert code == 2 and "--resume continues a study with the space and settings saved in it" in err
    code, _, err = run_cli(capsys, "search", "--resume", "--output", str(tmp_path))
    assert code == 2 and "Nothing to resume" in err


def _search_process(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    handle = open(log, "w")  # noqa: SIM115 - closed by the child's end
    return subprocess.Popen([sys.executable, "-m", "ftstudio", *args], stdout=handle, stderr=subprocess.STDOUT,
                            env=env, cwd=REPO)


def test_two_workers_share_one_sqlite_study_without_duplicates(tiny_model_dir, texts, tmp_path):
    space = write_space(tmp_path / "space.toml", "learning_rate = [1e-2, 3e-3, 1e-3]\nbatch_size = [8, 16]\n")
    args = study_args(tiny_model_dir, texts, space, tmp_path / "study", "--sampler", "grid", "--pruner", "none",
                      "--epochs", "1", "--quiet")
    workers = [_search_process(args, tmp_path / f"worker{index}.log") for index in range(2)]
    for worker in workers:
        assert worker.wait(timeout=240) == 0, (tmp_path / "worker0.log").read_text()[-2000:]
    view = read_study(tmp_path / "study", importances=False)
    points = [(row.params["learning_rate"], row.params["batch_size"]) for row in view.rows]
    assert len(points) == 6 == len(set(points)) and all(row.state == "complete" for row in view.rows)
    pids = {optuna.load_study(study_name="study", storage=view.storage).trials[index].user_attrs["pid"]
            for index in range(6)}
    assert len(pids) == 2, "both workers took trials"
    assert sorted(path.name for path in (tmp_path / "study").glob("trial-*")) == [f"trial-{n:04d}" for n in range(6)]


def test_a_killed_search_resumes_and_its_cut_trial_is_failed_and_run_again(capsys, tiny_model_dir, texts, tmp_path):
    space = write_space(tmp_path / "space.toml", "learning_rate = { low = 1e-3, high = 1e-2, log = true }\n")
    # Trials of 12 epochs (about 3 s): long enough to be killed in the middle of the second.
    args = study_args(tiny_model_dir, texts, space, tmp_path / "study", "--sampler", "random", "--pruner", "none",
                      "--trials", "3", "--epochs", "12", "--quiet")
    worker = _search_process(args, tmp_path / "worker.log")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and worker.poll() is None:
        if (tmp_path / "study" / "trial-0001" / "metrics.jsonl").is_file():
            break
        time.sleep(0.1)
    assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    code, out, err = run_cli(capsys, "search", "--resume", "--output", str(tmp_path / "study"), "--quiet")
    assert code == 0, err
    view = read_study(tmp_path / "study", importances=False)
    states = [row.state for row in view.rows]
    assert states.count("complete") == 3 and states.count("failed") == 1
    cut = view.rows[1]
    assert cut.state == "failed" and "ended mid-trial" in cut.message
    retry = next(row for row in view.rows if row.message == "retry of trial 1")
    assert retry.params == cut.params and retry.state == "complete"
