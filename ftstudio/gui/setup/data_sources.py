"""The data panel's source list: the embedded samples (the airline tweets' sentiment, and one
sample per other task type: `engine.data.sample_tasks.TASK_SAMPLES`), recent files, the data in
use (a file, folder or Hub dataset), and "Open file...".
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from ftstudio.gui.setup.recent_paths import add_recent_items

SAMPLE_LABEL = "Embedded sample: airline tweets (3 classes)"
OPEN_FILE = "__open_file__"
RECENT_KEY = "data/recent_files"
# Choosing an embedded sample chooses the task it was made for: "auto" where Automatic finds it,
# regression where it cannot (Automatic never takes a score column for classes).
_SAMPLE_TASKS = {"sample:regression": "regression"}


def sample_task(spec: str) -> str | None:
    """The task an embedded sample is trained as (None: `spec` is no sample)."""
    if spec == "sample" or spec.startswith("sample:"):
        return _SAMPLE_TASKS.get(spec, "auto")
    return None


class DataSourceCombo(QComboBox):
    """The data sources as a combo; each item's data is its data spec (or OPEN_FILE)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dataSource")
        self.setToolTip("The labelled texts to train on: an embedded sample (one per task type) or a "
                        "CSV/TSV/JSON/JSONL/Parquet file (a folder with train/validation/test files works too).")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(24)

    def fill(self, spec: str) -> int:
        """Samples, recent files and Open file..., with `spec` selected; returns its index."""
        from ftstudio.engine.data.sample_tasks import TASK_SAMPLES

        self.blockSignals(True)
        try:
            self.clear()
            self.addItem(SAMPLE_LABEL, "sample")
            for sample, description in TASK_SAMPLES.items():
                what = description.split(":")[0]  # "Airline tweets, multi-label"
                self.addItem(f"Embedded sample: {what[:1].lower()}{what[1:]}", sample)
                self.setItemData(self.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
            add_recent_items(self, RECENT_KEY, Path.exists, "File")
            self.insertSeparator(self.count())
            self.addItem("Open file...", OPEN_FILE)
            return self.select(spec)
        finally:
            self.blockSignals(False)

    def select(self, spec: str) -> int:
        """Select `spec`, adding it above Open file... when it is not listed; returns its index."""
        index = self.findData(spec)
        if index < 0:
            label = f"File: {Path(spec).name}" if Path(spec).exists() else f"Hub: {spec}"
            index = self.count() - 2
            self.insertItem(index, label, spec)
            self.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(index)
        return index
