"""The runs tab on LoRA runs: the strategy and the adapter's size in the run's facts, and the
checkpoints listed though step folders hold only the adapter (no model.safetensors)."""

from __future__ import annotations

import shutil

import pytest

from tests.lora_runs import lora_runs, steps

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory):
    return lora_runs(tiny_model_dir, tmp_path_factory)


def _open(qtbot, runs_dir):
    from ftstudio.gui.runs.panel import RunsPanel

    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    return panel


def _facts(panel) -> str:
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setHtml(panel.details.facts.text())
    return doc.toPlainText()


def test_a_lora_run_shows_its_rank_adapter_size_and_checkpoints(qtbot, runs):
    panel = _open(qtbot, runs.runs_dir)
    try:
        assert panel.select_run(runs.a)
        size = (runs.a / "best" / "adapter" / "adapter_model.safetensors").stat().st_size
        assert f"LoRA rank 8 · adapter {size / 1024:.1f} kB" in _facts(panel)
        names = [row["name"] for row in panel.details.checkpoints.rows()]
        assert names == [*(s.name for s in steps(runs.a)), "best/", "last/"]
        assert all(row["metrics"] for row in panel.details.checkpoints.rows() if row["name"] != "last/")
        assert panel.select_run(runs.b) and "LoRA rank 4 · adapter" in _facts(panel)
    finally:
        panel.shutdown()


def test_a_lora_run_with_step_folders_only(qtbot, runs, tmp_path):
    """Stopped before best/ and last/: its newest step folder gives the adapter's size."""
    copy = tmp_path / "runs" / runs.a.name
    shutil.copytree(runs.a, copy, ignore=shutil.ignore_patterns("best", "last", ".lock"))
    panel = _open(qtbot, copy.parent)
    try:
        assert panel.select_run(copy)
        size = (steps(copy)[-1] / "adapter_model.safetensors").stat().st_size
        assert f"adapter {size / 1024:.1f} kB" in _facts(panel)
        assert [row["name"] for row in panel.details.checkpoints.rows()] == [s.name for s in steps(copy)]
    finally:
        panel.shutdown()
