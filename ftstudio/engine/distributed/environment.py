"""Which process of which group this is, as the launcher that started it says.

torchrun (and `accelerate launch`, which runs it) and our own `launch` set RANK, WORLD_SIZE,
LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT. SLURM's `srun` starting one task per
GPU sets SLURM_PROCID, SLURM_STEP_NUM_TASKS and SLURM_LOCALID instead; the batch script must then
export MASTER_ADDR and MASTER_PORT (the head node), as the scripts `ftstudio job` writes do.
SLURM_STEP_NUM_TASKS, not SLURM_NTASKS: the latter is also set in the batch script itself, where a
plain `ftstudio train` is one process and must not wait for others.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ftstudio.engine.errors import SettingsError


@dataclass(frozen=True)
class GroupEnvironment:
    """This process's place in a launched group."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    launcher: str  # "torchrun" (torchrun, accelerate launch, ftstudio's own launch) or "srun"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_group(environ: Mapping[str, str] | None = None) -> GroupEnvironment | None:
    """The group this process was launched into, or None when it runs alone (a world of one
    counts as alone). Raises SettingsError for an environment that names a group but cannot
    join one (srun without MASTER_ADDR, numbers that do not parse)."""
    env = os.environ if environ is None else environ
    try:
        if "RANK" in env and "WORLD_SIZE" in env:
            found = _from_torchrun(env)
        elif "SLURM_PROCID" in env and "SLURM_STEP_NUM_TASKS" in env:
            found = _from_srun(env)
        else:
            return None
    except ValueError as exc:
        raise SettingsError(f"The launcher's environment does not describe a process group: {exc}.") from None
    return found if found.world_size > 1 else None


def _from_torchrun(env: Mapping[str, str]) -> GroupEnvironment:
    world = int(env["WORLD_SIZE"])
    local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    return GroupEnvironment(int(env["RANK"]), world, int(env.get("LOCAL_RANK", 0)), local_world, "torchrun")


def _from_srun(env: Mapping[str, str]) -> GroupEnvironment:
    world = int(env["SLURM_STEP_NUM_TASKS"])
    if world > 1 and not (env.get("MASTER_ADDR") and env.get("MASTER_PORT")):
        raise SettingsError("Started by srun as one of several tasks, but MASTER_ADDR and MASTER_PORT are not set: "
                            "export them in the batch script (the first node's name and a free port), or start "
                            "torchrun under srun as the scripts of `ftstudio job` do.")
    tasks_here = env.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]
    local_world = int(tasks_here) if tasks_here.isdigit() else world
    return GroupEnvironment(int(env["SLURM_PROCID"]), world, int(env.get("SLURM_LOCALID", 0)), local_world, "srun")


def export_for_torch(group: GroupEnvironment, environ: dict[str, str] | None = None) -> None:
    """torch.distributed's env:// initialisation reads RANK and WORLD_SIZE: give them to an srun task."""
    env = os.environ if environ is None else environ
    env.setdefault("RANK", str(group.rank))
    env.setdefault("WORLD_SIZE", str(group.world_size))
    env.setdefault("LOCAL_RANK", str(group.local_rank))
