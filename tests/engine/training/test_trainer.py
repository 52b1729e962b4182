"""The trainer's own decisions: which evaluation a stop cut short and fit() redoes on resume,
and that the redone evaluation is the one an uninterrupted run makes (speed levers included)."""

from __future__ import annotations

import pytest

from ftstudio.engine.events import Reporter, TrainingControl
from ftstudio.engine.runs.recorder import RunRecorder
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train
from ftstudio.engine.training.trainer import Trainer
from tests.engine.training.test_faults import _last_step
from tests.engine.training.test_train import _evals, _step_losses, tiny_settings


def _restored_trainer(step: int, *, eval_steps: int = 5, save_steps: int = 0, micro: int = 3, epoch: int = 0,
                      last_eval_step: int = -1, last_saved_step: int | None = None, total_steps: int = 20,
                      steps_per_epoch: int = 14):
    """A trainer in the state restore() leaves (the checkpoint's step saved), its evaluations
    recorded instead of run."""
    trainer = Trainer(TrainSettings(eval_steps=eval_steps, save_steps=save_steps), RunRecorder(Reporter()),
                      TrainingControl())
    trainer.global_step, trainer.total_steps, trainer.micro, trainer.epoch = step, total_steps, micro, epoch
    trainer.steps_per_epoch = steps_per_epoch
    trainer.last_eval_step = last_eval_step
    trainer.last_saved_step = step if last_saved_step is None else last_saved_step
    calls: list[bool] = []

    def evaluate(force_save: bool) -> str:
        calls.append(force_save)
        return "Early stopping: ..." if trainer.s.early_stopping_patience else ""

    trainer._evaluate_and_maybe_save = evaluate
    return trainer, calls


@pytest.mark.parametrize(
    "state,redone",
    [
        (dict(step=10), True),  # stopped during the evaluation due at step 10
        (dict(step=10, last_eval_step=10), False),  # that evaluation completed before the stop
        (dict(step=7), False),  # stopped between evaluations: nothing was cut short
        (dict(step=0), False),  # a fresh run
        (dict(step=20), False),  # the last step: fit() evaluates it anyway
        (dict(step=14, eval_steps=0, micro=0, epoch=1), True),  # adaptive schedule, at an epoch end
        # adaptive schedule over 20 steps of 14 an epoch: 7 an epoch, at steps 2, 4, 6, ...
        (dict(step=4, eval_steps=0, micro=4, epoch=0), True),  # at one of its mid-epoch evaluations
        (dict(step=5, eval_steps=0, micro=5, epoch=0), False),  # between them
    ],
    ids=["eval-step", "eval-done", "between-evals", "fresh", "last-step", "epoch-end", "adaptive-point",
         "adaptive-between"],
)
def test_the_evaluation_a_stop_cut_short_is_redone_and_nothing_else(state, redone):
    trainer, calls = _restored_trainer(**state)
    assert trainer._redo_evaluation_cut_short() == ""
    assert calls == ([False] if redone else [])  # the checkpoint at the step exists: saved only if best


def test_a_redone_evaluation_saves_a_step_whose_checkpoint_is_missing_and_can_end_the_run():
    trainer, calls = _restored_trainer(10, save_steps=5, last_saved_step=5)
    trainer._redo_evaluation_cut_short()
    assert calls == [True]
    trainer, calls = _restored_trainer(10, save_steps=4, last_saved_step=5)  # step 10 is no save step
    trainer._redo_evaluation_cut_short()
    assert calls == [False]
    trainer, calls = _restored_trainer(10)
    trainer.s.early_stopping_patience = 1
    assert trainer._redo_evaluation_cut_short().startswith("Early stopping")


class _StopInEvaluation(Reporter):
    """Asks for a stop as the `nth` evaluation starts; records the order of steps and evaluations."""

    def __init__(self, control: TrainingControl | None = None, nth: int = 0) -> None:
        self.control, self.nth, self.evaluations = control, nth, 0
        self.events: list[tuple[str, int]] = []

    def on_status(self, status, message=""):
        if status == "evaluating":
            self.evaluations += 1
            if self.evaluations == self.nth:
                self.control.request_stop()

    def on_step(self, event):
        self.events.append(("step", event.step))

    def on_eval(self, event):
        self.events.append(("eval", event.step))


def test_fit_redoes_the_cut_short_evaluation_first_with_the_runs_levers(tiny_model_dir, small_csv, tmp_path):
    """The redone evaluation comes before any new step and equals the uninterrupted run's, here
    with head-only training (the levers, feature cache included, are in place before it);
    test_faults.py has the same for full fine-tuning."""
    settings = tiny_settings(tiny_model_dir, small_csv, strategy="head", early_stopping_patience=3)
    whole = train(settings, tmp_path / "whole")
    assert_stop_in_second_evaluation_resumes_exactly(settings, whole, tmp_path / "split", evaluated_step=10)


def assert_stop_in_second_evaluation_resumes_exactly(settings, whole, run_dir, evaluated_step: int) -> None:
    """Stop `settings`' run inside its second evaluation (at `evaluated_step`), resume it: the cut
    evaluation is redone before any new step, and the run ends as `whole` (the uninterrupted run)."""
    control = TrainingControl()
    stopped = train(settings, run_dir, reporter=_StopInEvaluation(control, nth=2), control=control)
    assert stopped.status == "stopped" and _last_step(stopped.run_dir) == evaluated_step
    resumed_events = _StopInEvaluation()
    resumed = train(run_dir=stopped.run_dir, resume=True, reporter=resumed_events)
    assert resumed.status == "finished" and resumed.message == whole.message
    assert resumed_events.events[:2] == [("eval", evaluated_step), ("step", evaluated_step + 1)]
    assert _evals(resumed.run_dir) == _evals(whole.run_dir)
    assert _step_losses(resumed.run_dir) == _step_losses(whole.run_dir)
    assert resumed.best == whole.best
