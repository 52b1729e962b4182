"""SIGKILL at random moments: a real `ftstudio train` process is killed during steps, while a
checkpoint folder is being written and while last/ and best/ are being swapped, then resumed,
again and again. After every kill the run folder must be readable and its newest complete
checkpoint loadable; at the end `--resume` finishes and the losses and evaluations equal those
of a run that was never interrupted.

The default suite kills 3 times (one of each kind); the 20-kill version is marked `stress`:
    .venv/bin/python -m pytest -m stress tests/engine/runs/test_kill.py
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftstudio.engine.predict.predictor import Predictor
from ftstudio.engine.runs import checkpoints, listing
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import _evals, _step_losses

# Runs the CLI; with FTSTUDIO_TEST_SLOW_SAVE=<seconds> it announces and stretches the two
# dangerous moments of a save (the temporary folder is full but not renamed; the step folder is
# renamed but last/ and best/ not yet swapped), so a kill can land inside them on purpose.
HELPER = r"""
import os, sys, time
slow = float(os.environ.get("FTSTUDIO_TEST_SLOW_SAVE", "0"))
if slow:
    from ftstudio.engine.runs import checkpoints
    fsync_tree, replace_dir = checkpoints._fsync_tree, checkpoints.replace_dir
    def slow_fsync(folder):
        print("KILLPOINT write", flush=True)
        time.sleep(slow)
        fsync_tree(folder)
    def slow_replace(src, dst):
        print("KILLPOINT publish", flush=True)
        time.sleep(slow)
        replace_dir(src, dst)
    checkpoints._fsync_tree, checkpoints.replace_dir = slow_fsync, slow_replace
from ftstudio.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
SLOW_SAVE = 0.4
KINDS = ("step", "write", "publish")


def _args(model: Path, data: Path, epochs: int, task: str = "auto") -> list[str]:
    return ["--model", str(model), "--data", str(data), "--epochs", str(epochs), "--batch-size", "8", "--max-length", "32",
            "--lr", "2e-3", "--seed", "7", "--save-steps", "3", "--eval-steps", "6", "--set", "log_steps=1",
            "--task", task]


def _settings(model: Path, data: Path, epochs: int = 2, task: str = "auto") -> TrainSettings:
    return TrainSettings(model=str(model), data=str(data), epochs=epochs, batch_size=8, max_length=32, learning_rate=2e-3,
                         seed=7, save_steps=3, eval_steps=6, log_steps=1, task=task)


def _start(cli_args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FTSTUDIO_TEST_SLOW_SAVE": str(SLOW_SAVE)}
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, "-c", HELPER, "train", *cli_args], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)


def _kill_at(proc: subprocess.Popen, kind: str, rng: random.Random, need_checkpoint: bool) -> bool:
    """Read the process's output until the chosen moment, SIGKILL it; False if it ended first."""
    saved = not need_checkpoint
    steps_to_wait = rng.randint(1, 12)
    for line in proc.stdout:
        if line.startswith("checkpoint saved"):
            saved = True
        if not saved:
            continue
        if kind == "step" and line.startswith("step"):
            steps_to_wait -= 1
            if steps_to_wait <= 0:
                time.sleep(rng.uniform(0, 0.05))
                break
        elif line.startswith(f"KILLPOINT {kind}") and rng.random() < 0.7:
            time.sleep(rng.uniform(0, SLOW_SAVE * 0.9))
            break
    else:
        proc.wait(timeout=120)
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    return True


def _assert_readable_after_kill(run_dir: Path, labels: list[str]) -> None:
    """What a user finds after the kill: every file parses, every checkpoint folder is whole."""
    assert isinstance(json.loads((run_dir / "settings.json").read_text()), dict)
    assert json.loads((run_dir / "status.json").read_text())["status"]
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").split("\n")
    for line in lines[:-1]:  # complete lines; the part after the last newline may be torn
        json.loads(line)
    # Nobody holds the run any more: the list says so instead of "training" forever (a kill
    # after the last status was written leaves "finished").
    assert listing.list_runs(run_dir.parent)[0].status in ("interrupted", "finished")
    steps = listing.list_checkpoints(run_dir)
    assert steps, "the first checkpoint was written before the kill"
    for info in steps:  # a step-N name means a complete folder, never a half-written one
        names = {p.name for p in info.path.iterdir()}
        assert {"config.json", "model.safetensors", "trainer_state.json", "training_state.pt"} <= names, names
        checkpoints.load_training_state(info.path)
    newest = checkpoints.find_resume_checkpoint(run_dir, owned=False)
    if not labels:  # pre-training: the newest checkpoint fills masks
        from ftstudio.engine.predict.language_model import LanguageModelPredictor

        guesses = LanguageModelPredictor(newest).fill_mask("great [MASK] flight")[0]
        assert guesses and all(0 <= g["score"] <= 1 for g in guesses)
        return
    predictor = Predictor(newest)
    assert predictor.label_names == labels
    pairs = ["this is positive"] if predictor.takes_pairs else None
    prediction = Predictor(run_dir).predict("great flight", pairs=pairs)[0]
    assert prediction.label and prediction.score == prediction.score  # a real answer, never NaN


def _kill_resume_finish(tmp_path: Path, model: Path, data: Path, kills: int, seed: int, epochs: int,
                        task: str = "auto", labels: tuple[str, ...] = ("negative", "neutral", "positive")) -> None:
    rng = random.Random(seed)
    run_dir, log = tmp_path / "run", tmp_path / "stderr.log"
    plan = [KINDS[i % len(KINDS)] for i in range(kills)]
    rng.shuffle(plan)
    done = 0
    for number, kind in enumerate(plan):
        args = _args(model, data, epochs, task) + ["--output", str(run_dir)] if number == 0 else ["--resume", str(run_dir)]
        if not _kill_at(_start(args, log), kind, rng, need_checkpoint=number == 0):
            break  # the run got to the end before this kill's moment came
        done += 1
        _assert_readable_after_kill(run_dir, list(labels))
    final = subprocess.run([sys.executable, "-m", "ftstudio", "train", "--resume", str(run_dir), "--quiet"],
                           capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    assert "Traceback" not in log.read_text(errors="replace")
    assert runs.read_status(run_dir)["status"] == "finished"
    assert done == kills, f"only {done} of {kills} kills landed before the run ended"

    reference = train(_settings(model, data, epochs, task), tmp_path / "reference")
    assert reference.status == "finished", reference.message
    assert _step_losses(run_dir) == _step_losses(reference.run_dir)
    assert _evals(run_dir) == _evals(reference.run_dir)


def test_three_kills_then_resume_equals_an_uninterrupted_run(tiny_model_dir, small_csv, tmp_path):
    _kill_resume_finish(tmp_path, tiny_model_dir, small_csv, kills=3, seed=1, epochs=2)


@pytest.mark.parametrize("task", ["multi-label", "regression", "pairs", "token-classification", "pretrain"])
def test_kills_then_resume_equal_an_uninterrupted_run_for_every_task(tiny_model_dir, tmp_path, task):
    from tests.language_models import write_corpus
    from tests.task_data import write_multilabel, write_ner, write_pairs, write_regression

    if task == "pretrain":  # masks drawn per batch: a resumed run must draw the same ones
        data, labels = write_corpus(tmp_path / "corpus.txt", lines=200), ()
    elif task == "token-classification":
        data, labels = write_ner(tmp_path / "data.conll"), ("O", "B-person", "I-person", "B-place", "I-place")
    elif task == "multi-label":
        data, labels = write_multilabel(tmp_path / "data.jsonl"), ("crew", "negative", "neutral", "positive", "urgent")
    elif task == "regression":
        data, labels = write_regression(tmp_path / "data.csv"), ("score",)
    else:
        data, labels, task = write_pairs(tmp_path / "data.csv"), ("agree", "disagree"), "auto"
    _kill_resume_finish(tmp_path, tiny_model_dir, data, kills=3, seed=2, epochs=2, task=task, labels=labels)


@pytest.mark.stress
def test_twenty_kills_at_random_moments(tiny_model_dir, tmp_path):
    from tests.conftest import make_texts, write_csv

    data = write_csv(tmp_path / "bigger.csv", make_texts(360, seed=3))  # a longer run: room for 20 kills
    _kill_resume_finish(tmp_path, tiny_model_dir, data, kills=20, seed=int(os.environ.get("FTSTUDIO_KILL_SEED", 5)),
                        epochs=3)


# ------------------------------------------------------------------ kill states, in process
def test_killed_before_the_first_checkpoint_resume_says_so(tiny_model_dir, small_csv, tmp_path, capsys):
    import shutil

    from ftstudio.cli.main import main
    from ftstudio.engine.events import TrainingControl
    from tests.engine.training.test_train import Recorder

    control = TrainingControl()
    result = train(_settings(tiny_model_dir, small_csv).replace(save_steps=0, eval_steps=0), tmp_path / "run",
                   reporter=Recorder(control, stop_at=1), control=control)
    for name in ("checkpoints", "last", "best"):  # as if killed before the first save
        shutil.rmtree(result.run_dir / name, ignore_errors=True)
    runs.write_status(result.run_dir, "training", "", 1)
    assert not listing.list_runs(tmp_path)[0].can_resume
    assert main(["train", "--resume", str(result.run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no complete checkpoint" in err and "new run" in err.lower()


def test_a_torn_metrics_line_is_skipped_and_dropped_on_resume(tiny_model_dir, small_csv, tmp_path):
    from ftstudio.engine.events import TrainingControl
    from tests.engine.training.test_train import Recorder

    control = TrainingControl()
    stopped = train(_settings(tiny_model_dir, small_csv).replace(epochs=1), tmp_path / "run",
                    reporter=Recorder(control, stop_at=5), control=control)
    with open(stopped.run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"time": 1, "event": "step", "step": 6, "lo')  # killed inside write()
    records = runs.read_metrics(stopped.run_dir)
    assert records and all(r.get("step", 0) <= 5 for r in records)
    assert train(run_dir=stopped.run_dir, resume=True).status == "finished"
    for line in (stopped.run_dir / "metrics.jsonl").read_text().splitlines():
        json.loads(line)
