"""The study in its database: storage, samplers, pruners and what ftstudio keeps in the study.

A study lives in an Optuna RDB storage: `sqlite:///STUDY_DIR/study.db` by default, or any
SQLAlchemy URL (PostgreSQL, MySQL) so workers on several machines share it. Everything needed to
run or continue the study is stored in the study itself (user attribute "ftstudio": the fixed
settings, the space, the trial budget, the sampler and pruner, the metric), so `--resume`, a
second worker and the window all read it from the database; `optuna.load_study` opens it as is.

Trials send a heartbeat, so a trial whose worker died (on any machine) is found stale and
marked failed; on this machine a dead worker's trials are found at once by their process id.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import SettingsError

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
STUDY_ATTR = "ftstudio"  # the study's user attribute holding what ftstudio needs to run it
STUDY_FILE = "study.db"
POINTER_FILE = "search.json"  # STUDY_DIR/search.json: which storage and study this folder belongs to
HEARTBEAT_SECONDS = 20
# A trial whose heartbeat is older than this is taken for dead (its worker's machine gone).
GRACE_SECONDS = 120
# The unit of the steps reported to the pruner: tenths of an epoch, so trials with other batch
# sizes (other optimizer steps per epoch) are compared at the same point of training.
PROGRESS_PER_EPOCH = 10


@dataclass
class StudyOptions:
    """How the study searches; stored in the study so every worker searches alike."""

    trials: int = 20
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 42

    def check(self) -> StudyOptions:
        if self.sampler not in SAMPLERS:
            raise SettingsError(f"--sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'.")
        if self.pruner not in PRUNERS:
            raise SettingsError(f"--pruner must be one of {', '.join(PRUNERS)}, got '{self.pruner}'.")
        if not 1 <= self.trials <= 100_000:
            raise SettingsError(f"--trials must be between 1 and 100000, got {self.trials}.")
        return self


@dataclass
class StudyRecord:
    """What ftstudio keeps in a study (its "ftstudio" user attribute)."""

    settings: dict[str, Any]  # the fixed settings
    space: dict[str, Any]  # the [space] table
    options: dict[str, Any]  # StudyOptions as a dict
    metric: str  # the validation metric trials are judged by
    direction: str  # "maximize" or "minimize"
    study_dir: str = ""  # where the first worker put trial folders

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_study(cls, study: optuna.Study) -> StudyRecord:
        data = study.user_attrs.get(STUDY_ATTR)
        if not isinstance(data, dict):
            raise SettingsError(f"Study '{study.study_name}' was not made by ftstudio search (it has no "
                                f"'{STUDY_ATTR}' record); open it with optuna itself.")
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def default_storage(study_dir: str | Path) -> str:
    return f"sqlite:///{(Path(study_dir) / STUDY_FILE).resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL (None for other databases and in-memory sqlite)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url in (prefix, "sqlite:///:memory:"):
        return None
    return Path(url[len(prefix):])


def default_study_name(study_dir: str | Path) -> str:
    return Path(study_dir).resolve().name or "study"


def open_storage(url: str) -> Any:
    """An Optuna RDB storage with heartbeats, or SettingsError saying why the URL cannot be used."""
    import optuna
    import sqlalchemy.exc

    database = sqlite_path(url)
    engine_kwargs: dict[str, Any] = {}
    if database is not None:
        if not database.parent.is_dir():
            raise SettingsError(f"The study's database folder {database.parent} does not exist.")
        # Several workers write one file: wait for its lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_SECONDS,
                                          grace_period=GRACE_SECONDS)
    except ImportError as exc:  # the database's driver (psycopg2, pymysql) is not installed
        raise SettingsError(f"--storage {_hidden_password(url)}: its database driver is missing "
                            f"({exc.name or exc}); install it with pip.") from None
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        raise SettingsError(f"--storage {_hidden_password(url)} is not a database URL "
                            f"(e.g. sqlite:///study.db or postgresql://user@host/db): {exc}.") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise SettingsError(f"Cannot open the study database {_hidden_password(url)}: "
                            f"{str(exc).splitlines()[0]}.") from None
    except RuntimeError as exc:  # optuna: the schema is of a newer or older version
        raise SettingsError(f"Cannot use the study database {_hidden_password(url)}: {exc}") from None


def _hidden_password(url: str) -> str:
    """A URL fit for a message: any password replaced by ***."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all: show it as given
        return url


def write_pointer(study_dir: Path, storage: str, study_name: str) -> None:
    """STUDY_DIR/search.json: the storage and study name, so `--resume --output STUDY_DIR` and the
    window find a study kept in another database."""
    from ftstudio.engine.runs.atomic import atomic_write_json

    atomic_write_json(study_dir / POINTER_FILE, {"storage": storage, "study_name": study_name})


def read_pointer(study_dir: str | Path) -> tuple[str, str] | None:
    """(storage, study name) recorded in STUDY_DIR, or None when it has no study."""
    path = Path(study_dir) / POINTER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["storage"]), str(data["study_name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def make_sampler(options: StudyOptions, space_grid: dict[str, list[Any]] | None, seed_offset: int) -> Any:
    """The Optuna sampler the options name. `seed_offset` (trials already in the study when this
    worker joined) keeps a joining worker from repeating the first one's random draws. The grid
    is the exception: every worker shuffles it with the same seed and takes the point of its
    trial's number (unique in the database), so no two workers take the same point."""
    import optuna

    if options.sampler == "grid":
        return _grid_sampler(space_grid, options.seed)
    seed = options.seed + seed_offset
    if options.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # A quarter of the budget (3..10 trials) explores at random before TPE models the results;
    # constant_liar keeps parallel workers from all trying the same promising point.
    startup = max(3, min(10, options.trials // 4))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True,
                                      constant_liar=True)


def _grid_sampler(grid: dict[str, list[Any]] | None, seed: int) -> Any:
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler minus its end-of-grid `study.stop()`, which only works inside
        `study.optimize`: here the trial budget (the grid's size) ends the study."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return GridSampler(grid, seed=seed)


def make_pruner(options: StudyOptions, epochs: int = 1) -> Any:
    """The pruner. Steps are tenths of an epoch (PROGRESS_PER_EPOCH); `epochs` is the shortest
    run a trial may train (the fixed epochs, or the least the space allows)."""
    import optuna

    if options.pruner == "none":
        return optuna.pruners.NopPruner()
    if options.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=2, reduction_factor=3)
    # The median pruner waits for a few finished trials to compare with, and for a fifth of the
    # run (0.3 epochs at least) into each trial: the very first evaluations of a fine-tune, still
    # in its warm-up, say little about where it ends.
    startup = max(2, min(5, options.trials // 5))
    warmup = max(3, round(epochs * PROGRESS_PER_EPOCH / 5))
    return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)


def worker_identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


class Heartbeat:
    """Records a running trial's heartbeat every HEARTBEAT_SECONDS from a daemon thread, as
    `study.optimize` does for its own trials (ask-and-tell does not)."""

    def __init__(self, storage: Any, trial_id: int) -> None:
        self._storage, self._trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="study-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._storage.record_heartbeat(self._trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; the trial goes on
                continue
