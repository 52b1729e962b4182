"""The Runs tab follows a run that another process writes, live: the step, the curves and the
status change on screen without a click, whatever writes the folder (this window's training
child, `ftstudio train` in a terminal, a cluster job writing into a shared folder).

The writer here is a separate Python process that holds the run lock, as a trainer does, and
writes the run folder with the engine's own functions, one step per command from the test: steps
only append to metrics.jsonl (no folder event), so only the panel's live polling can see them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

WAIT_MS = 15_000

# Reads one JSON command a line: {"step": n} appends a step record, {"status": s} replaces
# status.json; answers "ok" after each so that the test knows the write is on disk.
WRITER = r"""
import json, sys
from pathlib import Path
from ftstudio.engine.runs.folder import append_metric, write_settings, write_status
from ftstudio.engine.runs.lock import RunLock

run_dir = Path(sys.argv[1])
run_dir.mkdir(parents=True)
lock = RunLock(run_dir)
lock.acquire()
write_settings(run_dir, {"model": "tiny-bert", "data": "shared.csv", "task": "single-label"}, {})
append_metric(run_dir, {"event": "info", "total_steps": 10, "task": "single-label", "best_metric": "f1",
                        "metrics": ["accuracy", "f1"], "processes": 2, "global_batch": 16})
write_status(run_dir, "training", "", 0)
print("ok", flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if "step" in command:
        step = command["step"]
        append_metric(run_dir, {"event": "step", "step": step, "total_steps": 10, "epoch": step / 10,
                                "loss": 1.0 / step, "learning_rate": 1e-4, "samples_per_second": 50.0,
                                "elapsed": float(step), "eta": 10.0 - step})
    else:
        write_status(run_dir, command["status"], command.get("message", ""), command.get("at"))
    print("ok", flush=True)
lock.release()
"""


class Writer:
    """The other process, writing one run folder as told."""

    def __init__(self, run_dir: Path) -> None:
        repo = Path(__file__).resolve().parents[3]
        self.process = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=repo,
                                        env={**os.environ, "PYTHONPATH": str(repo)})
        self._answer()

    def send(self, **command) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        self._answer()

    def _answer(self) -> None:
        assert self.process.stdout.readline().strip() == "ok", "the writer process failed"

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _shown(panel, run_dir: Path) -> dict[str, str]:
    from ftstudio.gui.runs.table import COLUMNS

    for row, summary in enumerate(panel.model.summaries()):
        if summary.run_dir == run_dir:
            return {c: panel.model.data(panel.model.index(row, i)) for i, c in enumerate(COLUMNS)}
    return {}


def test_a_run_another_process_writes_updates_live(qtbot, tmp_path):
    from ftstudio.gui.runs.panel import RunsPanel

    runs_dir = tmp_path / "shared-runs"
    runs_dir.mkdir()
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    panel.show()
    run_dir = runs_dir / "20260101-000000-tiny-bert-shared"
    writer = Writer(run_dir)
    try:
        qtbot.waitUntil(lambda: _shown(panel, run_dir).get("Status") == "training", timeout=WAIT_MS)
        assert panel.select_run(run_dir)
        assert panel._watcher.is_polling()  # a live run listed and the panel on screen

        for step in (1, 2, 3):  # appends only: no folder event announces them
            writer.send(step=step)
            qtbot.waitUntil(lambda s=step: _shown(panel, run_dir).get("Steps") == f"{s} / 10", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: panel.details.plots.point_counts()["steps"] == 3, timeout=WAIT_MS)
        assert "training" in panel.details.facts.text() and "steps 3 / 10" in panel.details.facts.text()

        plots = panel.details.plots
        plots.loss_plot.getViewBox().sigRangeChangedManually.emit([True, True])  # the user zooms in
        assert not plots.following()

        writer.send(status="paused", at=3)
        qtbot.waitUntil(lambda: _shown(panel, run_dir).get("Status") == "paused", timeout=WAIT_MS)
        writer.send(status="training", at=3)
        writer.send(step=4)
        writer.send(status="finished", message="Finished.", at=4)
        qtbot.waitUntil(lambda: _shown(panel, run_dir).get("Status") == "finished", timeout=WAIT_MS)
        assert _shown(panel, run_dir)["Steps"] == "4 / 10"
        qtbot.waitUntil(lambda: "finished" in panel.details.facts.text(), timeout=WAIT_MS)
        assert plots.point_counts()["steps"] == 4
        assert not plots.following()  # new points were added; the zoomed view stayed
        assert not panel._watcher.is_polling()  # nothing live is listed any more
    finally:
        writer.close()
        panel.shutdown()


def test_polling_stops_while_the_runs_are_hidden(qtbot, tmp_path):
    """A hidden Runs tab costs nothing: folder events alone refresh it, and showing it catches up."""
    from ftstudio.gui.runs.panel import RunsPanel

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    run_dir = runs_dir / "20260101-000000-tiny-bert-hidden"
    writer = Writer(run_dir)
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    try:
        assert _shown(panel, run_dir)["Status"] == "training"
        assert not panel._watcher.is_polling()  # never shown yet
        panel.show()
        assert panel._watcher.is_polling()
        panel.hide()
        assert not panel._watcher.is_polling()
        writer.send(step=5)
        panel.show()  # the catch-up re-read on showing
        assert _shown(panel, run_dir)["Steps"] == "5 / 10"
    finally:
        writer.close()
        panel.shutdown()
