"""What a study holds, read for people: a row per trial, the best trial, parameter importances,
the best settings file and the summary table the CLI prints.

Everything here reads the study's database only (never a worker's memory), so the CLI, a second
worker and the window's live table all see the same thing, while trials run or long after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.search.study import PROGRESS_PER_EPOCH, StudyRecord

if TYPE_CHECKING:
    import optuna

BEST_SETTINGS_FILE = "best_settings.toml"
# Parameter importance (fANOVA) says little, and may fail, with fewer finished trials than this.
MIN_TRIALS_FOR_IMPORTANCE = 5


@dataclass
class TrialRow:
    """One trial as the table shows it. `state`: running, complete, pruned, failed or waiting."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    duration: float | None  # seconds (so far, for a running trial)
    run_dir: str
    pruned_at_epoch: float | None = None
    message: str = ""  # why it failed, or was stopped
    started: str = ""  # ISO time
    values: list[tuple[int, float]] = field(default_factory=list)  # (progress step, value) reported

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def trial_rows(study: optuna.Study, now: datetime | None = None) -> list[TrialRow]:
    """Every trial of `study`, in number order."""
    return [_row(trial, now or datetime.now()) for trial in study.get_trials(deepcopy=False)]


def _row(trial: Any, now: datetime) -> TrialRow:
    state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
             "WAITING": "waiting"}.get(trial.state.name, trial.state.name.lower())
    start, end = trial.datetime_start, trial.datetime_complete
    duration = (end - start).total_seconds() if start and end else (now - start).total_seconds() if start else None
    attrs = trial.user_attrs
    message = str(attrs.get("message", ""))
    if not message and "retry_of" in attrs:
        message = f"retry of trial {attrs['retry_of']}"
    elif not message and state == "failed":  # failed by another worker: no heartbeat for minutes
        message = "its worker went silent (no heartbeat) and it was run again"
    pruned_at = attrs.get("pruned_at_epoch")
    return TrialRow(number=trial.number, state=state, value=trial.value if state in ("complete", "pruned") else None,
                    params=dict(trial.params), duration=duration, run_dir=str(attrs.get("run_dir", "")),
                    pruned_at_epoch=float(pruned_at) if pruned_at is not None else None, message=message,
                    started=start.isoformat(timespec="seconds") if start else "",
                    values=sorted((int(step), float(value)) for step, value in trial.intermediate_values.items()))


def best_row(rows: list[TrialRow], direction: str) -> TrialRow | None:
    """The complete trial with the best value (pruned trials never count as best)."""
    done = [row for row in rows if row.state == "complete" and row.value is not None]
    if not done:
        return None
    pick = min if direction == "minimize" else max
    return pick(done, key=lambda row: (row.value, -row.number) if pick is max else (row.value, row.number))


def best_so_far(rows: list[TrialRow], direction: str) -> list[float | None]:
    """For each row, the best complete value up to and including it (None before the first)."""
    best: float | None = None
    out: list[float | None] = []
    for row in rows:
        if row.state == "complete" and row.value is not None:
            better = best is None or (row.value < best if direction == "minimize" else row.value > best)
            best = row.value if better else best
        out.append(best)
    return out


def param_importances(study: optuna.Study) -> dict[str, float]:
    """Each searched setting's share of the value's variance (fANOVA; sums to 1), or {} while
    fewer than MIN_TRIALS_FOR_IMPORTANCE trials are complete or only one setting varies."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}
    varied = {name for trial in complete for name in trial.params
              if len({repr(t.params.get(name)) for t in complete}) > 1}
    if not varied:
        return {}
    import warnings

    with warnings.catch_warnings():  # "importances will be equal" when the values tie: the result says so
        warnings.simplefilter("ignore")
        try:
            return dict(optuna.importance.get_param_importances(study, params=sorted(varied)))
        except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every value the same
            return {}


def best_settings(record: StudyRecord, row: TrialRow) -> Any:
    """The fixed settings with the best trial's parameters: what `ftstudio train --config` runs."""
    from ftstudio.engine.search.space import parse_space
    from ftstudio.engine.settings import TrainSettings

    space = parse_space({"space": record.space}, "study")
    return space.apply(TrainSettings.from_dict(record.settings, "study"), row.params)


def write_best_settings(study_dir: Path, record: StudyRecord, row: TrialRow) -> Path:
    """STUDY_DIR/best_settings.toml for the best trial; returns its path."""
    path = Path(study_dir) / BEST_SETTINGS_FILE
    settings = best_settings(record, row)
    try:
        settings.save(path)
    except OSError as exc:
        raise SettingsError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    return path


def format_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_param(value: Any) -> str:
    """A parameter as a table shows it: floats to 3 significant digits (5.61e-5, 0.1)."""
    from ftstudio.engine.settings import format_number

    return format_number(float(f"{value:.3g}")) if isinstance(value, float) else str(value)


def pruned_at_text(row: TrialRow) -> str:
    return "" if row.pruned_at_epoch is None else f"epoch {row.pruned_at_epoch:.1f}"


def summary_table(rows: list[TrialRow], metric: str, direction: str) -> str:
    """The trials as a text table (best marked with *), as `ftstudio search` prints at the end."""
    names = list(dict.fromkeys(name for row in rows for name in row.params))
    best = best_row(rows, direction)
    header = ["#", "state", metric, "duration", "pruned at", *names]
    lines = [[("*" if best is not None and row.number == best.number else "") + str(row.number), row.state,
              format_value(row.value), format_duration(row.duration), pruned_at_text(row),
              *(format_param(row.params[name]) if name in row.params else "" for name in names)] for row in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *lines]]
    return "\n".join(text)


def progress_epoch(step: int) -> float:
    """An intermediate value's step (tenths of an epoch) as an epoch."""
    return step / PROGRESS_PER_EPOCH


@dataclass
class StudyView:
    """A study as the window shows it: its record, every trial, the best one, importances."""

    study_name: str
    storage: str
    record: StudyRecord
    rows: list[TrialRow]
    best: TrialRow | None
    importances: dict[str, float]

    @property
    def metric(self) -> str:
        return self.record.metric

    @property
    def direction(self) -> str:
        return self.record.direction

    @property
    def budget(self) -> int:
        return int(self.record.options.get("trials", 0))


def read_study(study_dir: str | Path | None = None, storage: str | None = None,
               study_name: str | None = None, importances: bool = True) -> StudyView:
    """Open a study read-only: from STUDY_DIR (its search.json, else its study.db), or from a
    storage URL and study name. SettingsError when there is none."""
    import optuna

    from ftstudio.engine.search import study as studies

    if storage is None:
        if study_dir is None:
            raise SettingsError("Give the study's folder, or its storage URL and name.")
        pointer = studies.read_pointer(study_dir)
        if pointer is None:
            raise SettingsError(f"{study_dir} holds no study (no search.json): choose the folder an ftstudio "
                                "search wrote.")
        storage, study_name = pointer[0], study_name or pointer[1]
    if study_name is None:
        raise SettingsError("Give the study's name (--study-name).")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise SettingsError(f"The database {storage} has no study '{study_name}'.") from None
    record = StudyRecord.from_study(study)
    rows = trial_rows(study)
    return StudyView(study_name, storage, record, rows, best_row(rows, record.direction),
                     param_importances(study) if importances else {})
