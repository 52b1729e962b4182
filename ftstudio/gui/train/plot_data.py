"""The numbers behind the training plots: a run's curves as growable numpy columns, and the
small searches the plots make over them (nearest point, data bounds). No Qt here."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ftstudio.gui.train.task_metrics import (
    DEFAULT_TASK,
    FROM_TRAINING_LOSS,
    describe_metric,
    from_training_loss,
    headline_metrics,
    task_name,
)

STEP_COLUMNS = ("step", "epoch", "loss", "smooth", "learning_rate")
EVAL_COLUMNS = ("step", "epoch", "loss")  # and a column for each metric an evaluation reports
_NOT_METRICS = frozenset({"event", "split", "task", "time"})


class _Columns:
    """Named float64 columns of equal length; capacity doubles when full (amortised O(1) append).
    With `grow`, a name first seen in an appended row becomes a new column (NaN before it)."""

    def __init__(self, names: tuple[str, ...], capacity: int = 256, grow: bool = False) -> None:
        self._index = {name: i for i, name in enumerate(names)}
        self._data = np.full((len(names), capacity), np.nan)
        self._grow = grow
        self.size = 0

    def append(self, values: dict[str, float]) -> None:
        if self._grow:
            for name in values.keys() - self._index.keys():
                self._index[name] = len(self._index)
                self._data = np.vstack([self._data, np.full((1, self._data.shape[1]), np.nan)])
        if self.size == self._data.shape[1]:
            grown = np.full((self._data.shape[0], self._data.shape[1] * 2), np.nan)
            grown[:, : self.size] = self._data[:, : self.size]
            self._data = grown
        for name, i in self._index.items():
            self._data[i, self.size] = values.get(name, np.nan)
        self.size += 1

    def column(self, name: str) -> np.ndarray:
        """The column's values (all NaN for a name no row had)."""
        if name not in self._index:
            return np.full(self.size, np.nan)
        return self._data[self._index[name], : self.size]

    def clear(self) -> None:
        self.size = 0


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class RunCurves:
    """One run's buffers (live or overlaid) with its EMA state for the smoothed training loss,
    and its task (from the info record or the evaluations; single-label until one says)."""

    def __init__(self) -> None:
        self.steps = _Columns(STEP_COLUMNS)
        self.evals = _Columns(EVAL_COLUMNS, grow=True)
        self._ema, self._ema_n = 0.0, 0
        self.task = DEFAULT_TASK
        self.metrics: list[str] = []  # the task's metric names as the info record lists them
        self.task_known = False  # a record named the task (an older run's never do)

    def add_info(self, record: dict) -> None:
        """The run's info event: its task and the names of its metrics."""
        if record.get("task"):
            self.task, self.task_known = task_name(record.get("task")), True
        if isinstance(record.get("metrics"), list):
            self.metrics = [str(m) for m in record["metrics"]]

    def series(self, table: str, column: str) -> np.ndarray:
        """A curve's values: a column of "steps" or "evals"; in "steps", a metric with a training
        curve (FROM_TRAINING_LOSS: perplexity) is computed from the smoothed training loss."""
        if table == "steps" and column in FROM_TRAINING_LOSS:
            return from_training_loss(column, self.steps.column("smooth"))
        return getattr(self, table).column(column)

    def add_step(self, event: dict, smoothing: float) -> None:
        loss = _num(event.get("loss"))
        self.steps.append({"step": _num(event.get("step")), "epoch": _num(event.get("epoch")), "loss": loss,
                           "smooth": self._smooth(loss, smoothing), "learning_rate": _num(event.get("learning_rate"))})

    def add_eval(self, event: dict) -> None:
        if event.get("split", "validation") != "validation":
            return  # a final test evaluation is not a point on the validation curve
        if event.get("task"):
            self.task, self.task_known = task_name(event.get("task")), True
        # Every number of the record is a column: the task's metrics, whichever they are. Details
        # (confusion matrix, per-class or per-label tables, thresholds) are not numbers.
        values = {name: float(value) for name, value in event.items()
                  if name not in _NOT_METRICS and _is_number(value)}
        self.evals.append({**values, **{name: _num(event.get(name)) for name in EVAL_COLUMNS}})

    def _smooth(self, loss: float, smoothing: float) -> float:
        """Debiased EMA (as TensorBoard): early points are not dragged towards zero."""
        if not math.isfinite(loss):
            return math.nan
        self._ema = smoothing * self._ema + (1.0 - smoothing) * loss
        self._ema_n += 1
        return self._ema / (1.0 - smoothing**self._ema_n) if smoothing < 1.0 else loss

    def resmooth(self, smoothing: float) -> None:
        self._ema, self._ema_n = 0.0, 0
        smooth = self.steps.column("smooth")
        for i, loss in enumerate(self.steps.column("loss")):
            smooth[i] = self._smooth(float(loss), smoothing)

    def load(self, records: list[dict], smoothing: float) -> None:
        for record in records:
            kind = record.get("event")
            if kind == "step":
                self.add_step(record, smoothing)
            elif kind == "info":
                self.add_info(record)
            elif kind == "eval":
                self.add_eval(record)


def nearest(xs: np.ndarray, x: float) -> int | None:
    if xs.size == 0 or not math.isfinite(x):
        return None
    distance = np.abs(xs - x)
    if np.all(np.isnan(distance)):
        return None
    return int(np.nanargmin(distance))


def data_bounds(curves) -> tuple[float, float, float, float] | None:
    """(smallest x, largest x, smallest y, largest y) over the finite points of `curves`; None
    without any."""
    x_min, x_max, y_lo, y_hi = math.inf, -math.inf, math.inf, -math.inf
    for curve in curves:
        x, y = curve.getOriginalDataset()
        if x is None or y is None or len(x) == 0:
            continue
        finite = np.isfinite(x) & np.isfinite(y)
        if not finite.any():
            continue
        x_min, x_max = min(x_min, float(np.min(x[finite]))), max(x_max, float(np.max(x[finite])))
        y_lo, y_hi = min(y_lo, float(np.min(y[finite]))), max(y_hi, float(np.max(y[finite])))
    return None if x_max == -math.inf else (x_min, x_max, y_lo, y_hi)


def readout_text(run: RunCurves, x_name: str, x: float) -> str:
    """The hover readout: the training and validation values nearest to `x` on the `x_name`
    axis ("step" or "epoch"), in one line; the validation values are the task's headline ones."""
    parts = []
    steps, evals = run.steps, run.evals
    i = nearest(steps.column(x_name), x)
    headline = headline_metrics(run.task, run.metrics)
    if i is not None:
        trained = "".join(f" · train {describe_metric(name, float(run.series('steps', name)[i]))}"
                          for name in headline if name in FROM_TRAINING_LOSS)
        parts.append(
            f"step {steps.column('step')[i]:.0f} · epoch {steps.column('epoch')[i]:.2f} · "
            f"train loss {steps.column('loss')[i]:.4f} (smoothed {steps.column('smooth')[i]:.4f}){trained} · "
            f"lr {steps.column('learning_rate')[i]:.2e}"
        )
    j = nearest(evals.column(x_name), x)
    if j is not None:
        shown = [describe_metric(name, float(evals.column(name)[j]))
                 for name in ("loss", *headline)]
        parts.append(f"validation @ step {evals.column('step')[j]:.0f}: {' · '.join(shown)}")
    return "   |   ".join(parts) if parts else "No points yet"
