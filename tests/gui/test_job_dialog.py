"""File > Export job...: the dialog opens from the window's menu with Setup's settings, previews
how the job starts, writes the job folder, and shows a refusal in its own words."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.job_dialog import JobDialog
from tests.gui.conftest import quiet_main_window

pytestmark = pytest.mark.usefixtures("temp_qsettings")


def _export_action(window):
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    return next(a for a in file_menu.actions() if a.text() == "Export job...")


def _open_dialog(qtbot, window) -> JobDialog:
    _export_action(window).trigger()
    qtbot.waitUntil(lambda: window.findChild(JobDialog) is not None and window.findChild(JobDialog).isVisible())
    return window.findChild(JobDialog)


def test_export_job_from_the_file_menu(qtbot, runs_dir, tmp_path):
    window = quiet_main_window(qtbot, runs_dir)
    window.settings_panel.widget_for("epochs").setValue(2)
    dialog = _open_dialog(qtbot, window)
    assert dialog.settings.epochs == 2 and dialog.gpus.value() == 1
    dialog.nodes.setValue(2)
    dialog.gpus.setValue(4)
    dialog.folder.setText(str(tmp_path / "job"))
    preview = dialog.preview.toPlainText()
    assert "sbatch slurm.sbatch" in preview and "--nnodes 2 --nproc-per-node 4" in preview
    assert dialog.export()
    for name in ("settings.toml", "launch.sh", "slurm.sbatch", "README.md"):
        assert (tmp_path / "job" / name).is_file()
    loaded = TrainSettings.load(tmp_path / "job" / "settings.toml")
    assert (loaded.epochs, loaded.processes, loaded.device) == (2, 4, "cuda")
    assert "sbatch slurm.sbatch" in dialog.message.text() and "README.md" in dialog.message.text()
    dialog.close()
    qtbot.waitUntil(lambda: window.findChild(JobDialog) is None)  # deleted when closed
    QApplication.processEvents()


def test_refusal_shown_in_the_dialog_then_overwrite(qtbot, runs_dir, tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "old.txt").write_text("x", encoding="utf-8")
    window = quiet_main_window(qtbot, runs_dir)
    dialog = _open_dialog(qtbot, window)
    dialog.folder.setText(str(tmp_path / "job"))
    dialog.cpu.setChecked(True)
    assert not dialog.export()
    assert "not empty" in dialog.message.text() and dialog.message.property("role") == "error"
    assert not (tmp_path / "job" / "settings.toml").exists()
    dialog.overwrite.setChecked(True)
    assert dialog.export() and dialog.message.property("role") == "ok"
    assert TrainSettings.load(tmp_path / "job" / "settings.toml").device == "cpu"
    dialog.close()
