"""The process group a run trains in: torch.distributed's, or a world of one.

`ProcessGroup.solo()` is the single process: every collective returns its input, so the
trainer has one code path. `ProcessGroup.join()` initialises torch.distributed from the
launcher's environment (NCCL on CUDA GPUs, one GPU per process; gloo on CPUs) with the run's
collective timeout, so no collective waits forever. Every collective runs inside `guard`: a
peer that died, hung or timed out becomes a `GroupError` whose message says what the group was
doing and that the last checkpoint is kept, never a bare backend error or a hang.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from ftstudio.engine.errors import FtStudioError, SettingsError, StopRequested, TrainingError, first_line

T = TypeVar("T")
LOST_CONTACT = "The training processes lost contact"  # how a GroupError's message starts


class GroupError(TrainingError):
    """The processes of a group lost one another: a peer died, hung, or timed out."""


class ProcessGroup:
    """This process's view of its group: rank, size, device, and the collectives the run uses."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0, backend: str = "",
                 timeout_minutes: int = 10, device: Any = None, launcher: str = "") -> None:
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank
        self.backend = backend
        self.timeout_minutes = timeout_minutes
        self.device = device  # the torch.device this rank trains on (None: the run resolves it)
        self.launcher = launcher

    # ---------------------------------------------------------------- making one
    @classmethod
    def solo(cls) -> ProcessGroup:
        """One process: no torch.distributed at all."""
        return cls()

    @classmethod
    def join(cls, environment: Any, device_setting: str, timeout_minutes: int) -> ProcessGroup:
        """Join the group `environment` describes (engine/distributed/environment.py): the device
        is this rank's GPU (cuda:LOCAL_RANK) or the CPU; the backend follows it."""
        import torch
        import torch.distributed as dist

        from ftstudio.engine.distributed.environment import export_for_torch
        from ftstudio.engine.models.devices import resolve_device

        device = _device_of_rank(resolve_device(device_setting), environment.local_rank, device_setting)
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        export_for_torch(environment)
        group = cls(environment.rank, environment.world_size, environment.local_rank, backend, timeout_minutes,
                    device, environment.launcher)
        with group.guard("starting (waiting for every process to join)"):
            dist.init_process_group(backend=backend, timeout=timedelta(minutes=timeout_minutes),
                                    **({"device_id": device} if device.type == "cuda" else {}))
        return group

    def close(self) -> None:
        """Leave the group (at the end of the run, whatever its outcome)."""
        if not self.active:
            return
        import torch.distributed as dist

        with contextlib.suppress(Exception):  # a group whose peer died may not close cleanly
            if dist.is_initialized():
                dist.destroy_process_group()

    # ---------------------------------------------------------------- facts
    @property
    def active(self) -> bool:
        """More than one process: collectives really communicate."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0, the owner of the run folder and the only rank that reports."""
        return self.rank == 0

    def describe(self) -> str:
        """'2 processes (gloo)' for the log; '' for one process."""
        return f"{self.world_size} processes ({self.backend})" if self.active else ""

    # ---------------------------------------------------------------- collectives
    def agree_flags(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag true on any rank is true on all: how a stop or pause asked of one rank
        (the window speaks to rank 0; a signal may reach one rank first) reaches all at once."""
        if not self.active:
            return tuple(bool(f) for f in flags)
        import torch
        import torch.distributed as dist

        values = torch.tensor([int(bool(f)) for f in flags], dtype=torch.int64, device=self._tensor_device)
        with self.guard("agreeing on stop and pause"):
            dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in values.tolist())

    def sum_(self, tensor: Any, what: str) -> Any:
        """Sum `tensor` over the ranks, in place (every rank gets the sum); returns it."""
        if not self.active:
            return tensor
        import torch.distributed as dist

        moved = tensor.to(self._tensor_device)
        with self.guard(what):
            dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        if moved is not tensor:
            tensor.copy_(moved)
        return tensor

    def broadcast(self, value: T, what: str) -> T:
        """Rank 0's `value` on every rank (picklable objects)."""
        if not self.active:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        with self.guard(what):
            dist.broadcast_object_list(box, src=0, device=self._tensor_device)
        return box[0]

    def gather(self, value: Any, what: str) -> list[Any] | None:
        """Every rank's `value`, in rank order, on rank 0 (None elsewhere)."""
        if not self.active:
            return [value]
        import torch.distributed as dist

        found: list[Any] | None = [None] * self.world_size if self.is_main else None
        with self.guard(what):
            dist.gather_object(value, found, dst=0)
        return found

    def all_gather(self, value: Any, what: str) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.active:
            return [value]
        import torch.distributed as dist

        found: list[Any] = [None] * self.world_size
        with self.guard(what):
            dist.all_gather_object(found, value)
        return found

    def barrier(self, what: str) -> None:
        """Wait until every rank got here (e.g. rank 0 published a checkpoint the others read)."""
        if not self.active:
            return
        import torch.distributed as dist

        with self.guard(what):
            if self.backend == "nccl":
                dist.barrier(device_ids=[self.local_rank])
            else:
                dist.barrier()

    def on_main(self, work: Callable[[], T], what: str) -> T:
        """Run `work` on rank 0 only and hand its result to every rank; a user error it raises
        is raised on every rank, so all fail alike instead of the others waiting for rank 0."""
        if not self.active:
            return work()
        outcome: tuple[str, Any] = ("", None)
        if self.is_main:
            try:
                outcome = ("value", work())
            except (FtStudioError, StopRequested) as exc:
                outcome = ("error", _picklable(exc))
            except Exception as exc:  # the others must not wait for a rank that failed
                self.broadcast(("error", _picklable(TrainingError(first_line(exc)))), what)
                raise
        kind, value = self.broadcast(outcome, what)
        if kind == "error":
            raise value
        return value

    # ---------------------------------------------------------------- internals
    @property
    def _tensor_device(self) -> Any:
        import torch

        return self.device if self.backend == "nccl" else torch.device("cpu")

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run a collective (or DDP's construction): a lost peer or a timeout becomes a GroupError."""
        try:
            yield
        except (RuntimeError, ConnectionError, TimeoutError) as exc:  # gloo/NCCL (DistError is a RuntimeError)
            if isinstance(exc, FtStudioError):
                raise
            raise GroupError(self.lost_message(what, exc)) from exc

    def lost_message(self, what: str, exc: BaseException | None = None) -> str:
        """What the user reads when the group fell apart while `what`."""
        detail = f" ({first_line(exc)[:160]})" if exc is not None else ""
        return (f"{LOST_CONTACT} while {what}: another process ended or did not answer "
                f"within {self.timeout_minutes} minutes (collective_timeout){detail}. The last checkpoint is kept: "
                "resume the run to continue.")


def _device_of_rank(device: Any, local_rank: int, setting: str) -> Any:
    """Each rank's own device: GPU number LOCAL_RANK, or the CPU."""
    import torch

    if device.type == "cuda":
        if device.index is not None and str(setting).strip().lower() not in ("auto", "cuda"):
            raise SettingsError(f"device: several processes each train on their own GPU; set device to cuda or auto, "
                                f"not {setting}.", "device")
        if local_rank >= torch.cuda.device_count():
            raise SettingsError(f"processes: this process is number {local_rank + 1} on its machine, which has "
                                f"{torch.cuda.device_count()} GPUs: start at most one process per GPU.", "processes")
        return torch.device("cuda", local_rank)
    if device.type == "mps":
        raise SettingsError("processes: Apple GPUs (MPS) train in one process; set processes to 1 or device to cpu.",
                            "processes")
    return device


def _picklable(exc: BaseException) -> BaseException:
    """`exc` if it survives a broadcast, else the same message as a TrainingError."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - an exception class with a custom __init__
        return TrainingError(str(exc))
