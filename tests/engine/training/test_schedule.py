"""The evaluation schedule: eval_steps 0 evaluates ~10 times a run (every epoch end included),
as a pure function of step counts, so a resumed run evaluates where the uninterrupted one did."""

from __future__ import annotations

import pytest

from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.optimization import count_steps
from ftstudio.engine.training.schedule import describe_schedule, evaluation_due, evaluation_steps
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import _evals, tiny_settings
from tests.engine.training.test_trainer import assert_stop_in_second_evaluation_resumes_exactly

SAMPLE_TRAIN_ROWS = 12_956  # the embedded sample's training split


@pytest.mark.parametrize(
    "total,per_epoch,eval_steps,expected",
    [
        # the defaults: 3 epochs of 405 steps -> 4 an epoch, evenly, every epoch end
        (1215, 405, 0, [102, 203, 304, 405, 507, 608, 709, 810, 912, 1013, 1114, 1215]),
        # a 600-row, 2-epoch, batch-16 trial: 5 an epoch
        (76, 38, 0, [8, 16, 23, 31, 38, 46, 54, 61, 69, 76]),
        (405, 405, 0, [41, 81, 122, 162, 203, 243, 284, 324, 365, 405]),  # one epoch: 10 in it
        (50, 5, 0, [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]),  # 10 epochs or more: each epoch's end
        (60, 5, 0, list(range(5, 61, 5))),  # never fewer than one an epoch
        (3, 1, 0, [1, 2, 3]),
        (5, 5, 0, [1, 2, 3, 4, 5]),  # fewer steps than evaluations wanted: every step
        # max_steps ends the run inside an epoch: the grid point at 99 would crowd the end's
        (100, 405, 0, [10, 20, 30, 40, 50, 60, 70, 80, 89, 100]),
        (30, 10, 7, [7, 14, 21, 28, 30]),  # eval_steps set: every N steps, and the run's end
        (30, 10, 10, [10, 20, 30]),
    ],
)
def test_evaluation_steps(total, per_epoch, eval_steps, expected):
    assert evaluation_steps(total, per_epoch, eval_steps) == expected


def test_the_default_run_shows_its_first_validation_point_after_a_tenth_of_it():
    per_epoch, total, epochs = count_steps(SAMPLE_TRAIN_ROWS, TrainSettings())
    assert (per_epoch, total, epochs) == (405, 1215, 3)
    steps = evaluation_steps(total, per_epoch, TrainSettings().eval_steps)
    assert steps[0] <= total / 10  # step 102: ~50 s at 2 steps/s, not a whole epoch (~3.5 min)
    assert describe_schedule(total, per_epoch, 0) == (
        "Evaluating every ~101 steps and at each epoch's end: 12 evaluations, the first at step 102.")


@pytest.mark.parametrize("epochs", range(1, 13))
@pytest.mark.parametrize("per_epoch", [1, 7, 38, 405, 1000])
def test_adaptive_schedule_about_ten_a_run_evenly_and_every_epoch_end(epochs, per_epoch):
    total = epochs * per_epoch
    steps = evaluation_steps(total, per_epoch, 0)
    assert all(end in steps for end in range(per_epoch, total + 1, per_epoch))
    assert len(steps) <= max(2 * 10, epochs) and len(steps) >= min(10, total)
    gaps = [b - a for a, b in zip([0, *steps], steps)]
    assert max(gaps) - min(gaps) <= 1 + (per_epoch if len(steps) < epochs else 0)
    assert all(evaluation_due(s, total, per_epoch, 0) for s in steps)


def test_resume_is_exact_across_an_adaptive_mid_epoch_evaluation(tiny_model_dir, small_csv, tmp_path):
    """eval_steps 0 on 2 epochs of 14 steps: evaluations at 3, 6, 9, 12, 14, ... A stop inside the
    one at step 6 (mid-epoch) is redone first on resume, and the run ends as the uninterrupted one."""
    settings = tiny_settings(tiny_model_dir, small_csv, eval_steps=0, early_stopping_patience=4)
    whole = train(settings, tmp_path / "whole")
    assert [e["step"] for e in _evals(whole.run_dir)] == evaluation_steps(28, 14, 0)[:len(_evals(whole.run_dir))]
    assert _evals(whole.run_dir)[1]["step"] == 6
    assert_stop_in_second_evaluation_resumes_exactly(settings, whole, tmp_path / "split", evaluated_step=6)
