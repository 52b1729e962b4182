"""When a run evaluates: a pure function of the settings and the run's step counts.

`eval_steps` > 0 evaluates every that many optimizer steps. `eval_steps` 0 (the default) is the
adaptive schedule: about `EVALUATIONS_PER_RUN` evaluations spread evenly over each epoch, always
one at each epoch's end, and at least one per epoch. On the defaults (1,215 steps, 405 per epoch)
that is every ~101 steps, 4 per epoch, so the first validation point comes after ~8% of the run
instead of a whole epoch; a run of 10 epochs or more evaluates once per epoch, as before.

Being a function of (step, total steps, steps per epoch, eval_steps) only, the schedule is the
same when a run is resumed, so a resumed run evaluates (and saves) at the steps it would have.
The run's last step is always evaluated too (`Trainer.fit` does it); a grid point less than half
an interval before it is skipped (only when max_steps ends a run inside an epoch).
"""

from __future__ import annotations

EVALUATIONS_PER_RUN = 10  # the adaptive schedule's target: a curve of ~10 points


def evaluations_per_epoch(total_steps: int, steps_per_epoch: int) -> int:
    """Evaluations spread evenly over each epoch by the adaptive schedule (at least 1)."""
    if total_steps <= 0 or steps_per_epoch <= 0:
        return 1
    wanted = -(-EVALUATIONS_PER_RUN * steps_per_epoch // total_steps)  # ceil(N * epoch share of the run)
    return max(1, min(steps_per_epoch, wanted))


def evaluation_due(step: int, total_steps: int, steps_per_epoch: int, eval_steps: int) -> bool:
    """Whether the optimizer step just taken (1-based `step`) is evaluated by the schedule (the
    run's last step is evaluated anyway, after the loop, when this says no)."""
    if step <= 0:
        return False
    if eval_steps > 0:
        return step % eval_steps == 0
    spe = max(steps_per_epoch, 1)
    per_epoch = evaluations_per_epoch(total_steps, spe)
    position = (step - 1) % spe + 1  # 1..spe within its epoch
    if position == spe:
        return True  # every epoch's end
    # The grid points of an epoch are ceil(j * spe / per_epoch), j = 1..per_epoch.
    if (position * per_epoch) // spe == ((position - 1) * per_epoch) // spe:
        return False
    return 2 * (total_steps - step) * per_epoch >= spe  # not crowding the run's final evaluation


def evaluation_steps(total_steps: int, steps_per_epoch: int, eval_steps: int) -> list[int]:
    """Every step a run evaluates at, in order (the run's end included)."""
    return [step for step in range(1, total_steps + 1)
            if step == total_steps or evaluation_due(step, total_steps, steps_per_epoch, eval_steps)]


def describe_schedule(total_steps: int, steps_per_epoch: int, eval_steps: int) -> str:
    """One line for the run's log: how often it evaluates, and the first step it does."""
    steps = evaluation_steps(total_steps, steps_per_epoch, eval_steps)
    if not steps:
        return "No evaluation planned."
    if eval_steps > 0:
        how = f"every {eval_steps} steps"
    else:
        per_epoch = evaluations_per_epoch(total_steps, steps_per_epoch)
        how = f"every ~{round(steps_per_epoch / per_epoch)} steps" if per_epoch > 1 else ""
        if total_steps >= steps_per_epoch:
            how = f"{how} and at each epoch's end" if how else "at each epoch's end"
    count = f"{len(steps)} evaluation" + ("s" if len(steps) > 1 else "")
    return f"Evaluating {how}: {count}, the first at step {steps[0]}."
