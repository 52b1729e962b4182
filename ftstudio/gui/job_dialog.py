"""File > Export job...: write the Setup tab's training as a cluster job (torchrun and SLURM).

A thin face on the engine's `write_job`: nodes, processes per node, the job and run folders, a
preview of how the job will be started, and Export. A refusal (a relative data path, a non-empty
folder, ...) is shown in the dialog in the engine's words; success lists the files written and
the submit command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.distributed.job import DEFAULT_PORT, start_commands, write_job
from ftstudio.engine.errors import FtStudioError, user_message
from ftstudio.gui.style import set_role

MAX_NODES = 4096


class JobDialog(QDialog):
    """Export the given settings as a job folder (settings.toml, launch.sh, slurm.sbatch, README).

    No signals: the files on disk are the result; `files` holds the last export (a `JobFiles`).
    """

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export job")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per File > Export job...
        self.settings = settings
        self.files: Any = None
        self._build()
        self._on_changed()

    def _build(self) -> None:
        self.nodes = QSpinBox(minimum=1, maximum=MAX_NODES, value=1)
        self.nodes.setToolTip("Machines the job runs on")
        self.gpus = QSpinBox(minimum=1, maximum=1024, value=max(1, self.settings.processes))
        self.gpus.setToolTip("Training processes per node (one per GPU); batch size is per process")
        self.cpu = QCheckBox("CPU processes (gloo) instead of GPUs, to try a cluster setup")
        self.cpu.setChecked(self.settings.device == "cpu")
        self.folder = QLineEdit(str(Path.home() / "ftstudio-job"))
        self.folder.setToolTip("The job folder to write; it must be new or empty")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._on_browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.run_dir = QLineEdit()
        self.run_dir.setPlaceholderText("default: run/ inside the job folder")
        self.run_dir.setToolTip("The run folder, on a filesystem every node sees")
        self.overwrite = QCheckBox("Replace the job files of a folder that is not empty")
        form = QFormLayout()
        form.addRow("Nodes:", self.nodes)
        self.gpus_label = QLabel("GPUs per node:")
        form.addRow(self.gpus_label, self.gpus)
        form.addRow("", self.cpu)
        form.addRow("Job folder:", folder_row)
        form.addRow("Run folder:", self.run_dir)
        form.addRow("", self.overwrite)
        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.preview.setMinimumSize(640, 150)
        self.message = QLabel(wordWrap=True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        buttons.rejected.connect(self.reject)
        for spin in (self.nodes, self.gpus):
            spin.setMinimumWidth(90)
            spin.setMaximumWidth(140)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("How it starts:"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        for spin in (self.nodes, self.gpus):
            spin.valueChanged.connect(self._on_changed)
        for edit in (self.folder, self.run_dir):
            edit.textChanged.connect(self._on_changed)
        self.cpu.toggled.connect(self._on_changed)

    @Slot()
    def export(self) -> bool:
        """Write the job folder; show the files and the submit command, or the refusal."""
        try:
            self.files = write_job(self.settings, nodes=self.nodes.value(), gpus_per_node=self.gpus.value(),
                                   folder=self._folder(), run_dir=self.run_dir.text().strip() or None,
                                   cpu=self.cpu.isChecked(), overwrite=self.overwrite.isChecked())
        except FtStudioError as exc:
            self._show(user_message(exc).replace("(--force)", f"(tick '{self.overwrite.text()}')"), "error")
            return False
        written = ", ".join(path.name for path in self.files.written)
        self.preview.setPlainText("\n".join(self.files.start_commands()))
        self._show(f"Wrote {written} in {self.files.folder}. Submit with: {self.files.submit_command}", "ok")
        return True

    def _folder(self) -> str:
        return self.folder.text().strip() or "ftstudio-job"

    @Slot()
    def _on_changed(self) -> None:
        self.gpus_label.setText("Processes per node:" if self.cpu.isChecked() else "GPUs per node:")
        folder = Path(self._folder()).expanduser().absolute()
        self.preview.setPlainText("\n".join(start_commands(
            folder, self.nodes.value(), self.gpus.value(), run_dir=self.run_dir.text().strip() or None,
            port=DEFAULT_PORT, cpu=self.cpu.isChecked())))
        self._show("", "hint")

    @Slot()
    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Job folder", self._folder())
        if folder:
            self.folder.setText(folder)

    def _show(self, text: str, role: str) -> None:
        self.message.setText(text)
        set_role(self.message, role)
