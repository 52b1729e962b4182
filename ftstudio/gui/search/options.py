"""How a study searches: trials, sampler, pruner, its folder, and (advanced) a shared database.

`SearchOptions` is the plain result, and `cli_arguments()` turns it into `ftstudio search`'s
flags, so what the window starts is exactly what a user would type. The folder defaults to a new
`search-YYYYmmdd-HHMMSS` in the runs folder, named again at each start unless the user chose one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ftstudio.engine.search.study import PRUNERS, SAMPLERS, StudyOptions
from ftstudio.gui.setup.setting_editors import select_data
from ftstudio.gui.style import set_role

SAMPLER_TEXTS = {
    "tpe": ("TPE (learns from the trials)", "Tree-structured Parzen Estimator: a few random trials, then it "
                                            "draws where the good ones were. The usual choice."),
    "random": ("Random", "Every trial drawn at random: a fair baseline, and good with few trials."),
    "grid": ("Grid (every combination)", "Every combination of the listed values once; a range needs a step."),
}
PRUNER_TEXTS = {
    "median": ("Median", "Stop a trial whose validation result is below the median of earlier trials at the "
                         "same point of training."),
    "hyperband": ("Hyperband", "Successive halving at several budgets: many trials stopped early, a few run long."),
    "none": ("None (every trial runs to the end)", "No trial is stopped early."),
}
MAX_TRIALS = 100_000


@dataclass
class SearchOptions:
    """The study's options as chosen; storage and study_name are None for the defaults."""

    trials: int
    sampler: str
    pruner: str
    study_dir: Path
    storage: str | None = None
    study_name: str | None = None

    def cli_arguments(self) -> list[str]:
        """`ftstudio search`'s flags for these options."""
        args = ["--trials", str(self.trials), "--sampler", self.sampler, "--pruner", self.pruner,
                "--output", str(self.study_dir)]
        if self.storage:
            args += ["--storage", self.storage]
        if self.study_name:
            args += ["--study-name", self.study_name]
        return args


def new_study_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / datetime.now().strftime("search-%Y%m%d-%H%M%S")


class StudyOptionsBox(QGroupBox):
    """The study's options. Signals: sig_changed() when the sampler or trials change (the grid
    note depends on them)."""

    sig_changed = Signal()

    def __init__(self, runs_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__("Study", parent)
        self.runs_dir = Path(runs_dir)
        self._custom_folder = False
        defaults = StudyOptions()
        self.trials = QSpinBox()
        self.trials.setObjectName("searchTrials")
        self.trials.setRange(1, MAX_TRIALS)
        self.trials.setValue(defaults.trials)
        self.trials.setToolTip("Trials in the study, each one training run (a grid tries each point once at most).")
        self.sampler = _combo("searchSampler", SAMPLERS, SAMPLER_TEXTS, defaults.sampler)
        self.pruner = _combo("searchPruner", PRUNERS, PRUNER_TEXTS, defaults.pruner)
        self.folder = QLineEdit()
        self.folder.setObjectName("searchFolder")
        self.folder.setToolTip("The study folder: a run folder per trial, study.db, search.log, best_settings.toml.")
        self.folder.textEdited.connect(self._on_folder_typed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse)
        self.storage = QLineEdit()
        self.storage.setObjectName("searchStorage")
        self.storage.setPlaceholderText("sqlite:///STUDY_DIR/study.db")
        self.storage.setToolTip("The study's database as an SQLAlchemy URL: postgresql://user@host/db lets workers "
                                "on several machines share the study. Empty: study.db in the folder.")
        self.study_name = QLineEdit()
        self.study_name.setObjectName("searchStudyName")
        self.study_name.setPlaceholderText("the folder's name")
        self.study_name.setToolTip("The study's name in the database (a shared database holds many).")
        self.grid_note = QLabel()
        self.grid_note.setObjectName("gridNote")
        self.grid_note.setWordWrap(True)
        self.grid_note.setVisible(False)
        self._advanced = QToolButton()
        self._advanced.setText("Advanced: database")
        self._advanced.setCheckable(True)
        self._advanced.setAutoRaise(True)
        self._advanced.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._advanced.toggled.connect(self._on_advanced)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Trials", self.trials)
        form.addRow("Sampler", self.sampler)
        form.addRow(self.grid_note)
        form.addRow("Pruner", self.pruner)
        form.addRow("Folder", folder_row)
        form.addRow(self._advanced)
        form.addRow("Storage URL", self.storage)
        form.addRow("Study name", self.study_name)
        self._form = form
        self._on_advanced(False)
        self.trials.valueChanged.connect(lambda _v: self.sig_changed.emit())
        self.sampler.currentIndexChanged.connect(lambda _i: self.sig_changed.emit())
        self.name_new_folder()

    # ------------------------------------------------------------------ public
    def options(self) -> SearchOptions:
        return SearchOptions(trials=self.trials.value(), sampler=self.sampler.currentData(),
                             pruner=self.pruner.currentData(), study_dir=Path(self.folder.text().strip()).expanduser(),
                             storage=self.storage.text().strip() or None,
                             study_name=self.study_name.text().strip() or None)

    def set_options(self, options: dict) -> None:
        """Show a study's own options (opened from its folder). The folder stays a new one: Start
        begins another study, Resume continues the one opened."""
        self.trials.setValue(int(options.get("trials", self.trials.value())))
        select_data(self.sampler, options.get("sampler"))
        select_data(self.pruner, options.get("pruner"))
        self.forget_folder()

    def set_folder(self, folder: str | Path) -> None:
        self.folder.setText(str(folder))
        self._custom_folder = True

    def name_new_folder(self) -> None:
        """A fresh default folder, unless the user chose one."""
        if not self._custom_folder:
            self.folder.setText(str(new_study_dir(self.runs_dir)))

    def forget_folder(self) -> None:
        """The next start gets a fresh default folder (the last study is done with)."""
        self._custom_folder = False
        self.name_new_folder()

    def set_grid_note(self, text: str, problem: bool = False) -> None:
        self.grid_note.setText(text)
        self.grid_note.setVisible(bool(text))
        set_role(self.grid_note, "error" if problem else "hint")

    # ------------------------------------------------------------------ slots
    @Slot(str)
    def _on_folder_typed(self, _text: str) -> None:
        self._custom_folder = True

    @Slot()
    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Study folder", str(self.runs_dir))
        if folder:
            self.set_folder(folder)

    @Slot(bool)
    def _on_advanced(self, shown: bool) -> None:
        self._advanced.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self._form.setRowVisible(self.storage, shown)
        self._form.setRowVisible(self.study_name, shown)


def _combo(name: str, values: tuple[str, ...], texts: dict[str, tuple[str, str]], current: str) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for value in values:
        text, tip = texts.get(value, (value, ""))
        combo.addItem(text, value)
        combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
    select_data(combo, current)
    return combo
