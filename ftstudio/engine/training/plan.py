"""What a run starts from: a new folder, a folder the caller named, a checkpoint, or a retry
after running out of memory.

`train()` used to tell these apart by the combination of a few flags (`resume`, whether the run
lock was already held, an old/new batch size pair); a `RunPlan` names the case instead, and the
preparation code asks the plan what to do (create or reuse the folder, write settings.json or
keep it, restore a checkpoint or start from the pretrained weights). A plan is immutable: an
out-of-memory retry is a new plan made from the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ftstudio.engine.settings import TrainSettings


class RunMode(Enum):
    """The five ways a run can start."""

    NEW = "new"  # a new run folder, named after model and data, under the runs folder
    EXPLICIT_FOLDER = "explicit folder"  # a new run in the folder the caller named
    RESUME = "resume"  # continue a run folder from its newest checkpoint
    OOM_RESTART = "out-of-memory restart"  # out of memory before any checkpoint: start over in place
    OOM_RESUME = "out-of-memory resume"  # out of memory after a checkpoint: continue from it


# Modes whose run folder exists already and is locked by this process before preparation starts.
_OWN_FOLDER = frozenset({RunMode.RESUME, RunMode.OOM_RESTART, RunMode.OOM_RESUME})
# Modes that continue from a checkpoint rather than from the pretrained weights.
_FROM_CHECKPOINT = frozenset({RunMode.RESUME, RunMode.OOM_RESUME})
_OUT_OF_MEMORY = frozenset({RunMode.OOM_RESTART, RunMode.OOM_RESUME})


@dataclass(frozen=True)
class RunPlan:
    """One start of a run: its mode, the settings it trains with and where its folder is.

    `run_dir` is the folder for every mode but NEW (whose folder is created under `runs_dir`,
    or the default runs folder when that is None). `rebatch` is the (old, new) batch size of an
    out-of-memory retry: a checkpoint's position in its epoch was counted in old batches.
    Build plans with the constructors (`new_run`, `resume`, `after_out_of_memory`).
    """

    mode: RunMode
    settings: TrainSettings
    run_dir: Path | None = None
    runs_dir: Path | None = None
    rebatch: tuple[int, int] | None = None

    # ---------------------------------------------------------------- constructors
    @classmethod
    def new_run(cls, settings: TrainSettings, run_dir: str | Path | None = None,
                runs_dir: str | Path | None = None) -> RunPlan:
        """A fresh run: in `run_dir` when the caller named one, else in a new folder under `runs_dir`."""
        if run_dir is not None:
            return cls(RunMode.EXPLICIT_FOLDER, settings, run_dir=Path(run_dir))
        return cls(RunMode.NEW, settings, runs_dir=Path(runs_dir) if runs_dir is not None else None)

    @classmethod
    def resume(cls, run_dir: str | Path, settings: TrainSettings) -> RunPlan:
        """Continue the run in `run_dir` with the settings it was started with (its settings.json)."""
        return cls(RunMode.RESUME, settings, run_dir=Path(run_dir))

    def after_out_of_memory(self, smaller: TrainSettings, run_dir: Path, has_checkpoint: bool) -> RunPlan:
        """The retry of this run with `smaller` batches in its own folder: from its newest
        checkpoint when it has one, else from the start."""
        mode = RunMode.OOM_RESUME if has_checkpoint else RunMode.OOM_RESTART
        return RunPlan(mode, smaller, run_dir=run_dir, rebatch=(self.settings.batch_size, smaller.batch_size))

    # ---------------------------------------------------------------- what the mode implies
    @property
    def owns_folder(self) -> bool:
        """The run folder exists and this process holds its lock before preparing (no new folder)."""
        return self.mode in _OWN_FOLDER

    @property
    def from_checkpoint(self) -> bool:
        """Weights, optimizer and position come from the run's newest checkpoint; settings.json
        is the run's own and stays as it is."""
        return self.mode in _FROM_CHECKPOINT

    @property
    def is_out_of_memory_retry(self) -> bool:
        return self.mode in _OUT_OF_MEMORY
