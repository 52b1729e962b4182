"""`run_search()`: one worker of a study, from the request to the best settings file.

A worker creates the study (or joins it: same storage and study name, same space and settings),
then claims trials until the study holds as many as asked for, counted across every worker.
Claiming is serialised by a file lock beside a SQLite database, so two workers on one machine
never overshoot the budget or take the same grid point; on a server database each claim is
atomic in Optuna and the budget may be overshot by one trial per worker at most.

Trials that did not end (a killed worker, a stopped search) are marked failed with the reason
and tried again with the same parameters by the next worker that starts or claims (a retry
records whom it replaces), so nothing is lost silently and the budget still counts finished
trials.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.events import Reporter, TrainingControl
from ftstudio.engine.search import study as studies
from ftstudio.engine.search.objective import study_metric
from ftstudio.engine.search.results import TrialRow, best_row, trial_rows, write_best_settings
from ftstudio.engine.search.space import SearchSpace, parse_space
from ftstudio.engine.search.study import StudyOptions, StudyRecord
from ftstudio.engine.search.trial import KEEP_CHOICES, TrialOutcome, run_trial, trial_folder

if TYPE_CHECKING:
    import optuna

    from ftstudio.engine.settings import TrainSettings

# Trials failing on their input this many times in a row end the search: the data or the model,
# not the parameters, is then at fault, and every further trial would fail the same way.
FAILURES_BEFORE_GIVING_UP = 3
# Besides trial-NNNN and the database: what a study folder may hold (the window writes the
# fixed settings and the space next to the study it launches, and the search's log).
STUDY_FOLDER_FILES = ("search.json", "search.log", "settings.toml", "space.toml", "best_settings.toml")


@dataclass
class SearchRequest:
    """What one `ftstudio search` (or the window's Search tab) asks for. With `resume` the
    settings, space and options come from the study; `trials` may then raise the budget."""

    study_dir: Path
    settings: TrainSettings | None = None
    space: SearchSpace | None = None
    options: StudyOptions = field(default_factory=StudyOptions)
    storage: str | None = None
    study_name: str | None = None
    resume: bool = False
    trials: int | None = None  # on resume: a new budget
    keep: str = "best"


@dataclass
class SearchResult:
    status: str  # finished, stopped or failed
    study_dir: Path
    storage: str
    study_name: str
    metric: str = ""
    direction: str = "maximize"
    message: str = ""
    rows: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    best_settings: Path | None = None
    input_error: bool = False


class SearchReporter(Reporter):
    """A study's events on top of the training events of the trial that runs (which `on_log`,
    `on_eval` and the rest carry as for any run). Every method is a no-op."""

    def on_study(self, info: dict[str, Any]) -> None:
        """The study is open: storage, study_name, study_dir, metric, direction, trials, space."""

    def on_trial_started(self, number: int, params: dict[str, Any], run_dir: str) -> None:
        """A trial starts training in `run_dir`."""

    def on_trial_ended(self, row: TrialRow, is_best: bool) -> None:
        """A trial ended (complete, pruned or failed); `is_best`: the best complete trial so far."""


def run_search(request: SearchRequest, reporter: SearchReporter | None = None,
               control: TrainingControl | None = None) -> SearchResult:
    """Run trials until the study holds the budget; see the module docstring. Bad inputs raise
    FtStudioError before any trial; a trial's own failure is recorded and the search goes on."""
    reporter = reporter or SearchReporter()
    control = control or TrainingControl()
    _silence_optuna()
    study_dir = Path(request.study_dir).expanduser().resolve()
    _check_study_dir(study_dir, request)
    storage_url, study_name = _where(request, study_dir)
    lock = _claim_lock(storage_url)
    with lock:  # workers starting together would both create the database's tables, or the study
        storage = studies.open_storage(storage_url)
        study, record = _open_study(request, study_dir, storage, storage_url, study_name)
    options = StudyOptions(**record.options)
    space = parse_space({"space": record.space}, "study")
    from ftstudio.engine.settings import TrainSettings

    fixed = TrainSettings.from_dict(record.settings, "study")
    try:
        study_dir.mkdir(parents=True, exist_ok=True)  # (a resume from --storage may name a new folder)
        studies.write_pointer(study_dir, storage_url, study_name)
    except OSError as exc:
        raise SettingsError(f"Cannot write to the study folder {study_dir}: {exc.strerror or exc}.") from None
    reporter.on_study({"storage": storage_url, "study_name": study_name, "study_dir": str(study_dir),
                       "metric": record.metric, "direction": record.direction, "trials": options.trials,
                       "space": record.space, "sampler": options.sampler, "pruner": options.pruner})
    failures_in_a_row = 0
    status, message, input_error = "finished", "", False
    while not control.stop_requested:
        with lock:
            _mend_interrupted(study)
            trial = _claim(study, options.trials)
            if trial is None:
                break
            run_dir = trial_folder(study_dir, trial.number)
            trial.set_user_attr("run_dir", str(run_dir))
            for key, value in studies.worker_identity().items():
                trial.set_user_attr(key, value)
        trial_settings = space.apply(fixed, {name: _suggest(trial, space, name) for name in space.names})
        reporter.on_trial_started(trial.number, dict(trial.params), str(run_dir))
        with studies.Heartbeat(storage, trial._trial_id):
            try:
                outcome = run_trial(trial, trial_settings, run_dir, record.metric, control, reporter, request.keep)
            except BaseException:
                _tell(study, trial, TrialOutcome("stopped", message="the search ended with an error"))
                raise
        _tell(study, trial, outcome)
        row = _row_of(study, trial.number)
        best = best_row(trial_rows(study), record.direction)
        reporter.on_trial_ended(row, best is not None and best.number == row.number)
        if outcome.state == "stopped":
            status, message = "stopped", outcome.message
            break
        failures_in_a_row = failures_in_a_row + 1 if outcome.state == "failed" else 0
        if outcome.input_error and failures_in_a_row >= FAILURES_BEFORE_GIVING_UP:
            status, message, input_error = "failed", outcome.message, True
            break
    if control.stop_requested and status == "finished":  # asked between two trials
        status, message = "stopped", f"stopped by {control.stop_reason or 'the user'} between trials"
    rows = trial_rows(study)
    best = best_row(rows, record.direction)
    best_path = write_best_settings(study_dir, record, best) if best is not None else None
    if status == "finished" and best is None:
        status, message = "failed", "No trial finished, so there is no best setting; see each trial's message."
    return SearchResult(status, study_dir, storage_url, study_name, record.metric, record.direction, message, rows,
                        best, best_path, input_error)


# ------------------------------------------------------------------ opening the study
def _silence_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Ask-and-tell with heartbeats is what study.optimize does inside; we send them (study.Heartbeat).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def _check_study_dir(study_dir: Path, request: SearchRequest) -> None:
    if request.keep not in KEEP_CHOICES:
        raise SettingsError(f"--keep must be one of {', '.join(KEEP_CHOICES)}, got '{request.keep}'.")
    if request.resume:
        return
    problem = study_folder_problem(study_dir)
    if problem:
        raise SettingsError(f"--output {problem}")
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"Cannot create the study folder {study_dir}: {exc.strerror or exc}.") from None


def study_folder_problem(study_dir: Path) -> str:
    """Why a new study (or a worker joining one) cannot use `study_dir` ("" when it can): a
    file, or a folder holding other things than a study's."""
    if study_dir.exists() and not study_dir.is_dir():
        return f"{study_dir} is a file; give a folder for the study."
    if study_dir.is_dir() and any(not _belongs_to_a_study(path.name) for path in study_dir.iterdir()):
        return f"{study_dir} is a folder that holds other files; give a new or empty folder for the study."
    return ""


def _belongs_to_a_study(name: str) -> bool:
    """Whether a file of STUDY_DIR is one a study writes (or the window writes for it)."""
    return name.startswith(("trial-", studies.STUDY_FILE)) or name in STUDY_FOLDER_FILES


def _where(request: SearchRequest, study_dir: Path) -> tuple[str, str]:
    """The storage URL and study name: as given, else as STUDY_DIR/search.json recorded, else
    the defaults (study.db in the folder, the folder's name)."""
    pointer = studies.read_pointer(study_dir)
    if request.resume and pointer is None and request.storage is None:
        raise SettingsError(f"Nothing to resume in {study_dir}: it holds no study (search.json is missing). "
                            "Give the folder of an earlier ftstudio search, or --storage and --study-name.")
    storage = request.storage or (pointer[0] if pointer else studies.default_storage(study_dir))
    name = request.study_name or (pointer[1] if pointer else studies.default_study_name(study_dir))
    return storage, name


def _open_study(request: SearchRequest, study_dir: Path, storage: Any, url: str,
                name: str) -> tuple[optuna.Study, StudyRecord]:
    import optuna

    existing = _load(storage, name)
    if request.resume:
        if existing is None:
            raise SettingsError(f"Nothing to resume: the database has no study '{name}'.")
        record = StudyRecord.from_study(existing)
        if request.trials is not None:
            record.options = {**record.options, "trials": StudyOptions(trials=request.trials).check().trials}
            existing.set_user_attr(studies.STUDY_ATTR, record.to_dict())
        return _with_sampler(existing, record), record
    if request.settings is None or request.space is None:
        raise SettingsError("A new study needs the fixed settings and a space (--space space.toml).")
    options = request.options.check()
    settings = request.settings.validate()
    request.space.check_with(settings)
    if options.sampler == "grid":
        grid_size = SearchSpace.grid_size(request.space.grid())
        if options.trials > grid_size:
            options = StudyOptions(**{**options.__dict__, "trials": grid_size})
    if existing is not None:
        record = StudyRecord.from_study(existing)
        if record.space != request.space.to_mapping() or record.settings != settings.to_dict():
            raise SettingsError(f"Study '{name}' already exists in {_shown_url(url)} with another space or other "
                                "settings. Continue it as it is with --resume, or give another --study-name.")
        return _with_sampler(existing, record), record
    metric, direction = study_metric(settings)
    record = StudyRecord(settings.to_dict(), request.space.to_mapping(), dict(options.__dict__), metric, direction,
                         str(study_dir))
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True)
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it a moment ago
        study = optuna.load_study(study_name=name, storage=storage)
    if studies.STUDY_ATTR not in study.user_attrs:
        study.set_user_attr(studies.STUDY_ATTR, record.to_dict())
    record = StudyRecord.from_study(study)
    return _with_sampler(study, record), record


def _load(storage: Any, name: str) -> optuna.Study | None:
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def _with_sampler(study: optuna.Study, record: StudyRecord) -> optuna.Study:
    """`study` reopened with the sampler and pruner its record names (Optuna keeps neither)."""
    import optuna

    options = StudyOptions(**record.options)
    grid = parse_space({"space": record.space}, "study").grid() if options.sampler == "grid" else None
    sampler = studies.make_sampler(options, grid, seed_offset=len(study.get_trials(deepcopy=False)))
    return optuna.load_study(study_name=study.study_name, storage=study._storage, sampler=sampler,
                             pruner=studies.make_pruner(options, _shortest_epochs(record)))


def _shortest_epochs(record: StudyRecord) -> int:
    """The fewest epochs a trial of the study trains: the fixed epochs, or the least searched."""
    searched = record.space.get("epochs")
    if isinstance(searched, list):
        return int(min(searched))
    if isinstance(searched, dict):
        return int(searched["low"])
    return int(record.settings.get("epochs", 1))


def _shown_url(url: str) -> str:
    return studies._hidden_password(url)


# ------------------------------------------------------------------ claiming trials
def _claim_lock(url: str) -> Any:
    """An exclusive lock beside a SQLite database (a no-op for server databases)."""
    database = studies.sqlite_path(url)
    return _FileLock(database.with_name(database.name + ".lock")) if database is not None else contextlib.nullcontext()


class _FileLock:
    """flock on a file, held while a worker mends and claims (not while it trains)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def __enter__(self) -> _FileLock:
        try:
            import fcntl
        except ImportError:  # Windows: claims are atomic in the database itself
            return self
        self._handle = open(self.path, "a")  # noqa: SIM115 - held until __exit__
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the lock
            self._handle = None


def _claim(study: optuna.Study, budget: int) -> optuna.Trial | None:
    """The next trial of this worker (a waiting retry first), or None when the study holds its
    budget: complete, pruned, running and failed trials count, a failure that is retried once."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    counted = sum(1 for t in trials if t.state != TrialState.FAIL or t.number not in retried)
    if waiting == 0 and counted >= budget:
        return None
    return study.ask()


def _mend_interrupted(study: optuna.Study) -> None:
    """Mark failed the running trials whose worker is gone (dead on this machine, or silent past
    the heartbeat's grace period anywhere), and queue a retry of every trial that ended without
    finishing and has none yet."""
    import optuna
    import psutil
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)  # heartbeats: workers on other machines
    me = studies.worker_identity()
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, pid = trial.user_attrs.get("host"), trial.user_attrs.get("pid")
        if host != me["host"] or not isinstance(pid, int) or pid == me["pid"] or psutil.pid_exists(pid):
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "message", f"its worker (process {pid}) ended mid-trial")
            storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker mended it first
            continue
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for trial in trials:
        stale = trial.state == TrialState.FAIL and "host" in trial.user_attrs and "message" not in trial.user_attrs
        interrupted = trial.state == TrialState.FAIL and (trial.user_attrs.get("interrupted") or stale)
        if interrupted and trial.number not in retried:
            study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def _suggest(trial: optuna.Trial, space: SearchSpace, name: str) -> Any:
    from ftstudio.engine.search.distributions import suggest

    return suggest(trial, space.dimension(name))


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> None:
    """Record the outcome; a trial another worker already failed as stale (and queued again)
    keeps that verdict."""
    import optuna

    try:
        _record(study, trial, outcome)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


def _record(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> None:
    from optuna.trial import TrialState

    if outcome.state != "complete":  # a failure without a message is one the heartbeat found
        trial.set_user_attr("message", outcome.message or outcome.state)
    if outcome.state == "complete":
        study.tell(trial, outcome.value)
    elif outcome.state == "pruned":
        trial.set_user_attr("pruned_at_epoch", outcome.pruned_at_epoch)
        study.tell(trial, state=TrialState.PRUNED)
    else:
        if outcome.state == "stopped":
            trial.set_user_attr("interrupted", True)  # tried again when the study continues
        study.tell(trial, state=TrialState.FAIL)


def _row_of(study: optuna.Study, number: int) -> TrialRow:
    return next(row for row in trial_rows(study) if row.number == number)

