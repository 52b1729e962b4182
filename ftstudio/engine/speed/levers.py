"""The one interface between the trainer and the speed levers, and the list of levers.

A lever makes training faster without changing what it computes. Each is a module of this
package exposing `LEVER`, an object with a `name` (as the run log says it), an
`unavailable_reason(run)` (why it steps aside for this run: a switch, the device, the
architecture, the settings; cheap, before any work) and an `apply(run)` (put it in place; it
may still step aside when its exactness check fails, and says why). The trainer calls
`apply_levers` once per run, after the model is placed and restored, and logs `speed_line` of
the result: every lever's status in one line, so a run's log always says which ones it used.

Adding a lever is a new module with its `LEVER` and one line in `REGISTERED`; the training
loop does not change unless the lever changes what the loop computes (the head-only feature
cache does: it hands the loop its cache in `LeverRun.features`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ftstudio.engine.data.batching import TokenizedSplit
    from ftstudio.engine.events import Reporter, TrainingControl
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.speed.frozen_features import FeatureCache

# The levers in the order they are applied and logged. Order matters: fast dropout may switch
# the attention implementation the first-token check then accepts, and the feature cache's
# single encoding pass benefits from a reduced top layer.
REGISTERED = (
    "ftstudio.engine.speed.fast_dropout",
    "ftstudio.engine.speed.first_token_top_layer",
    "ftstudio.engine.speed.frozen_features",
)


@dataclass
class LeverRun:
    """What a lever sees of the run it may speed up. Levers change `model` in place (never
    its weights or what `state_dict()` holds); `features` is the one result a lever hands
    back: the head-only cache the loop then trains and evaluates on."""

    model: Any
    settings: TrainSettings
    splits: dict[str, TokenizedSplit]  # tokenized; "train" and "validation" always present
    pad_token_id: int
    device: Any  # torch.device
    autocast: Callable[[], Any]  # the run's mixed-precision context (a nullcontext factory in fp32)
    control: TrainingControl | None = None  # long lever work checks it, so a stop is honoured
    reporter: Reporter | None = None  # for progress of long lever work
    processes: int = 1  # the group's size: each process trains a shard of every batch
    features: FeatureCache | None = None


@runtime_checkable
class SpeedLever(Protocol):
    """A speed lever as the registry sees it (see the module docstring)."""

    name: str

    def unavailable_reason(self, run: LeverRun) -> str | None:
        """Why the lever cannot serve this run, or None when it may be applied."""

    def apply(self, run: LeverRun) -> str | None:
        """Put the lever in place; None when in use, else why it stepped aside (the run is
        then left as it was)."""


@dataclass(frozen=True)
class LeverStatus:
    """One lever's outcome for a run: on, or off and why."""

    name: str
    reason: str | None = None

    @property
    def on(self) -> bool:
        return self.reason is None

    def __str__(self) -> str:
        return f"{self.name} on" if self.on else f"{self.name} off ({self.reason})"


def registered_levers() -> list[SpeedLever]:
    """The `LEVER` of every module in `REGISTERED`, in order (imported on first use: some
    import torch)."""
    return [importlib.import_module(module).LEVER for module in REGISTERED]


def apply_levers(run: LeverRun, levers: Sequence[SpeedLever] | None = None) -> list[LeverStatus]:
    """Offer the run to every lever in turn; each one's status, in order. A lever that raises
    is not caught: StopRequested from a long lever step must end the run as a stop anywhere."""
    statuses = []
    for lever in registered_levers() if levers is None else levers:
        reason = lever.unavailable_reason(run)
        if reason is None:
            reason = lever.apply(run)
        statuses.append(LeverStatus(lever.name, reason))
    return statuses


def speed_line(statuses: Sequence[LeverStatus]) -> str:
    """The run log's line, e.g. "Speed: fast dropout on; first-token top layer off (the model is
    a decoder); head-only feature cache on"."""
    return "Speed: " + "; ".join(str(status) for status in statuses)


def speed_record(statuses: Sequence[LeverStatus], step: int) -> dict[str, Any]:
    """The same statuses as a metrics.jsonl record, so the run folder keeps which levers a run
    (or each resumed part of it, from `step` on) used."""
    return {"event": "speed", "step": step,
            "levers": [{"name": status.name, "on": status.on, "reason": status.reason} for status in statuses]}
