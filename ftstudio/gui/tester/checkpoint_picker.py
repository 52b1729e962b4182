"""A combo box of the models the tester can use: this run's checkpoints, other runs, a folder.

Split from the tester panel (which uses it twice: the model under test and the compare model).
Entries come from the run folder through `ftstudio.engine.runs.folder`; each item's data is
{"path": folder or model spec, "options": Predictor keyword arguments, "task": {"name", "state"}
as the checkpoint's trainer_state.json saved it}, or None for a placeholder. Knowing the task
before the model loads lets the panel show the second text box for a pair model at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QSizePolicy, QWidget

BASE_MODEL = "base"
BROWSE = "browse"
BASE_TITLE = "base model (untrained head)"


def _fmt_metrics(metrics: dict, task: dict | None = None) -> str:
    """The task's first two headline metrics (accuracy and F1; micro and macro F1; RMSE and r)."""
    from ftstudio.engine.tasks.base import LOWER_IS_BETTER
    from ftstudio.engine.tasks.metric_names import metric_label
    from ftstudio.engine.tasks.registry import TASKS

    name = str((task or {}).get("name") or "single-label")
    found = TASKS.get(name, TASKS["single-label"])
    names = [n for n in ("accuracy", "f1") if n in found.metric_names] or list(found.headline)
    if name == "pretrain":  # a language model: how well it predicts held-out text
        names = ["perplexity"]
    shown = []
    for name in names[:2]:
        value = metrics.get(name)
        if isinstance(value, (int, float)):
            # Errors are in the data's units: significant digits, not three decimals.
            number = f"{value:.3g}" if name in LOWER_IS_BETTER or name == "perplexity" else f"{value:.3f}"
            shown.append(f"{metric_label(name)} {number}")
    return f", {', '.join(shown)}" if shown else ""


def _evaluated_metrics(folder: Path) -> dict:
    """The metrics of the evaluation a checkpoint folder (best/, last/) was saved after; {} when
    it was saved between evaluations or has no readable state."""
    from ftstudio.engine.errors import CheckpointError
    from ftstudio.engine.runs.checkpoints import read_trainer_state

    try:
        state = read_trainer_state(folder)
    except (CheckpointError, OSError, ValueError):
        return {}
    step = state.get("global_step")
    if state.get("last_eval_step", step) != step:  # saved between evaluations: not this step's
        return {}
    return dict(state.get("metrics") or {})


def checkpoint_task(folder: str | Path) -> dict:
    """{"name", "state"} of the task a checkpoint (or a run folder's best/last) was trained for,
    from its trainer_state.json; {} when it has none (a checkpoint made elsewhere)."""
    from ftstudio.engine.errors import CheckpointError
    from ftstudio.engine.predict.adapter_checkpoints import is_adapter_only
    from ftstudio.engine.runs.checkpoints import read_trainer_state

    folder = Path(folder)
    for candidate in (folder, folder / "best", folder / "last"):
        if (candidate / "config.json").is_file() or is_adapter_only(candidate):  # (a LoRA run's step folder)
            try:
                task = read_trainer_state(candidate).get("task")
            except (CheckpointError, OSError, ValueError):
                return {}
            if isinstance(task, dict) and isinstance(task.get("name"), str):
                return {"name": task["name"], "state": dict(task.get("state") or {})}
            return {}
    return {}


class CheckpointPicker(QComboBox):
    """Picks a checkpoint folder (or the base model) for prediction.

    Signals:
      sig_model_changed(str): the picked model's path or spec changed ("" when none is usable).
    """

    sig_model_changed = Signal(str)

    def __init__(self, runs_dir: Path, include_base: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        self.include_base = include_base
        self.run_dir: Path | None = None
        # Injectable: tests answer the folder dialog without showing it (None: the real dialog;
        # not a bound method of self, which would make a reference cycle).
        self.browse_folder: Callable[[], str] | None = None
        self._folders: dict[str, dict] = {}  # browsed folder -> its task
        self._others: list[tuple[str, str, dict]] = []  # (run id, best-or-last folder, task) of other runs
        self._reason = "Pick a model: train a run first, or choose “Browse folder…”."
        self._emitted = ""
        self._chosen = False  # the user picked an entry (a default pick follows the run instead)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(14)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.activated.connect(self._on_activated)
        self.currentIndexChanged.connect(self._on_index_changed)
        self._rebuild(prefer_default=True)

    # ------------------------------------------------------------------ public
    def set_run(self, run_dir: Path | None, others: list | None = None) -> None:
        """Offer `run_dir`'s checkpoints; `others` (from `list_runs`, read once by the caller when
        several pickers share it) supplies the other runs' best checkpoints."""
        from ftstudio.engine.runs import listing

        self.run_dir = Path(run_dir) if run_dir else None
        self._others = self._other_runs(listing.list_runs(self.runs_dir) if others is None else others)
        self._chosen = False
        self._rebuild(prefer_default=True)

    def refresh(self) -> None:
        """Re-read this run's checkpoints (other runs are read on `set_run`), keeping a pick the
        user made; a default pick follows the run (its best as soon as it has one: a run that
        started without checkpoints defaulted to another run's)."""
        self._rebuild(prefer_default=not self._chosen)

    def current_path(self) -> str:
        data = self.currentData()
        return data["path"] if isinstance(data, dict) else ""

    def current_options(self) -> dict:
        data = self.currentData()
        return dict(data.get("options") or {}) if isinstance(data, dict) else {}

    def current_task(self) -> dict:
        """{"name", "state"} of the picked model's task as saved with it ({} when unknown)."""
        data = self.currentData()
        return dict(data.get("task") or {}) if isinstance(data, dict) else {}

    def takes_pairs(self) -> bool:
        """Whether the picked model was trained on pairs of texts (from its saved task state)."""
        return bool(self.current_task().get("state", {}).get("text_pair"))

    def missing_reason(self) -> str:
        return self._reason

    def select_path(self, path: str) -> bool:
        for i in range(self.count()):
            data = self.itemData(i)
            if isinstance(data, dict) and data["path"] == str(path):
                self.setCurrentIndex(i)
                return True
        return False

    # ------------------------------------------------------------------ entries
    def _entries(self) -> list[tuple[str, object, str]]:
        """(text, data, tooltip) for every choice, this run's first."""
        from ftstudio.engine.predict.adapter_checkpoints import is_adapter_only
        from ftstudio.engine.runs import listing

        entries: list[tuple[str, object, str]] = []
        run = self.run_dir
        if run is not None:
            checkpoints = listing.list_checkpoints(run)
            # One task for the whole run: read it once, from any of its checkpoints.
            task = next((t for t in map(checkpoint_task, [run, *(c.path for c in checkpoints)]) if t), {})
            if self.include_base:
                base = self._base_entry(run, task)
                if base is not None:
                    entries.append(base)
            by_step = {c.step: c for c in checkpoints}
            for name in ("best", "last"):
                folder = run / name
                if (folder / "config.json").is_file():
                    step = listing.read_checkpoint_step(folder)
                    metrics = by_step[step].metrics if step in by_step else _evaluated_metrics(folder)
                    detail = f" (step {step}{_fmt_metrics(metrics, task)})" if step is not None else ""
                    entries.append(
                        (f"This run · {name}{detail}", {"path": str(folder), "task": task}, str(folder))
                    )
            for c in reversed(checkpoints):
                adapter = is_adapter_only(c.path)  # a LoRA run's: its adapter, loaded onto the shared base model
                entries.append((f"This run · step {c.step}{' (adapter)' if adapter else ''}"
                                f"{_fmt_metrics(c.metrics, task)}", {"path": str(c.path), "task": task},
                                f"{c.path}\nA LoRA adapter: the base model stays loaded when you switch between "
                                "adapters." if adapter else str(c.path)))
            if not any(isinstance(d, dict) and "kind" not in d for _, d, _ in entries):
                self._reason = (
                    "This run has no checkpoint yet: one is saved at each evaluation "
                    "(by default at the end of every epoch)."
                )
                entries.append(("This run · no checkpoint yet", None, self._reason))
        for run_id, folder, task in self._others:
            entries.append((f"{run_id} · {Path(folder).name}", {"path": folder, "task": task}, folder))
        for folder, task in self._folders.items():
            entries.append((f"Folder · {Path(folder).name}", {"path": folder, "task": task}, folder))
        entries.append(("Browse folder…", BROWSE, "Use any checkpoint folder (config.json + weights, or a LoRA adapter)."))
        return entries

    def _base_entry(self, run: Path, task: dict) -> tuple[str, object, str] | None:
        """The run's starting model with a fresh head for its labels (known once data is read)
        and its task (the task state, from a checkpoint, gives a regression head the run's
        scale and tells that the model takes pairs)."""
        from ftstudio.engine.runs import folder as runs

        try:
            model = str(runs.read_settings(run)["settings"]["model"])
        except Exception:  # an unreadable run simply offers no base model
            return None
        info = next((r for r in runs.read_metrics(run) if r.get("event") == "info"), {})
        labels = info.get("label_names")
        if not labels:
            return None
        if not task and info.get("task"):  # no checkpoint yet: the task without its saved state
            task = {"name": str(info["task"]), "state": {"text_pair": bool(info.get("text_pair"))}}
        options = {"label_names": list(labels)}
        if task:
            options.update(task=task["name"], task_state=dict(task.get("state") or {}))
        name = Path(model).name if Path(model).is_dir() else model
        return (
            f"{BASE_TITLE}: {name}",
            {"path": model, "options": options, "kind": BASE_MODEL, "task": task},
            "The run's starting model with a fresh, untrained classification head: what the "
            "predictions were before fine-tuning.",
        )

    def _other_runs(self, summaries: list) -> list[tuple[str, str, dict]]:
        found = []
        for summary in summaries:
            if self.run_dir is not None and summary.run_dir.resolve() == self.run_dir.resolve():
                continue
            for name in ("best", "last"):
                folder = summary.run_dir / name
                if (folder / "config.json").is_file():
                    found.append((summary.run_id, str(folder), checkpoint_task(folder)))
                    break
        return found

    def _rebuild(self, prefer_default: bool, keep: str | None = None) -> None:
        keep = self.current_path() if keep is None else keep
        self.blockSignals(True)
        try:
            self.clear()
            for text, data, tip in self._entries():
                self.addItem(text, data)
                self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self._select(keep, prefer_default)
        finally:
            self.blockSignals(False)
        self._announce()

    def _select(self, keep: str, prefer_default: bool) -> None:
        if keep and not prefer_default and self.select_path(keep):
            return
        # Default: the base entry for the compare picker, else best > last > newest step.
        for i in range(self.count()):
            data = self.itemData(i)
            if isinstance(data, dict) and (self.include_base or data.get("kind") != BASE_MODEL):
                self.setCurrentIndex(i)
                return
        self.setCurrentIndex(0)

    def _announce(self) -> None:
        path = self.current_path()
        if path != self._emitted:
            self._emitted = path
            self.sig_model_changed.emit(path)

    # ------------------------------------------------------------------ slots
    @Slot(int)
    def _on_index_changed(self, _index: int) -> None:
        if self.currentData() != BROWSE:
            self._announce()

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        self._chosen = True  # (activated: the user's own pick, never a programmatic one)
        if self.itemData(index) != BROWSE:
            return
        folder = (self.browse_folder or self._ask_folder)()
        if folder and folder not in self._folders:
            self._folders[folder] = checkpoint_task(folder)
        # Cancelled: go back to what was picked before "Browse folder…".
        self._rebuild(prefer_default=False, keep=folder or self._emitted)

    def _ask_folder(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Checkpoint folder", str(self.runs_dir))
