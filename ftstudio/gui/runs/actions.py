"""What the Runs tab's buttons can do for the selected run, and the words that say why not.

Plain functions of a run summary (no widgets), so the panel stays a thin wiring of buttons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resume_action(run: Any, active: bool) -> tuple[bool, str]:
    """Whether Resume applies to `run` (`active`: this window trains it now), and its tooltip."""
    resumable = run is not None and run.can_resume and not active
    if run is None:
        return False, "Select a run."
    if active:
        return False, "This run is training now."
    if not resumable:
        return False, f"Only a stopped or failed run with a last/ checkpoint can be resumed ({run.status})."
    return True, "Continue this run from its last checkpoint."


def finetune_action(run: Any) -> tuple[Path | None, str]:
    """The checkpoint "Fine-tune from this" hands on for `run` (None: not offered), and its tooltip."""
    from ftstudio.engine.runs.lineage import finetune_checkpoint

    source = finetune_checkpoint(run.run_dir, run.status, run.task) if run is not None else None
    if source is not None:
        return source, f"Fine-tune a new model starting from this run's {source.name}/ checkpoint (sets Setup's model)."
    if run is None or run.task != "pretrain":
        return None, "Fine-tune from a continued pre-training run: select one."
    return None, (f"Available once this pre-training run has finished (or stopped with a best/ checkpoint); "
                  f"it is {run.status}.")


def overlay_hint(run: Any, overlay_ids: list[str], skipped: list[Any]) -> str:
    """What the curves show when several runs are selected, and which were left out."""
    text = f"Showing {run.run_id}"
    text += f"; dashed curves: {', '.join(overlay_ids)}." if overlay_ids else "."
    if skipped:
        others = ", ".join(f"{o.run_id} ({o.task})" for o in skipped)
        text += f" Not overlaid, as they are not {run.task} runs and their metrics differ: {others}."
    return text
