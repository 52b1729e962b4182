"""The study options as `ftstudio search`'s command line, and the child process handling: a stop
that the child honours, a child that ignores it (killed), nothing left running."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from ftstudio.gui.search import process as search_process
from ftstudio.gui.search.options import StudyOptionsBox
from ftstudio.gui.search.process import SearchProcess, last_line, resume_command, search_command

WAIT_MS = 20000
# A stand-in for `ftstudio search`: says it is ready, then waits; SIGINT ends it as the CLI does (130).
POLITE_CHILD = ("import signal, sys, time\n"
                "signal.signal(signal.SIGINT, lambda *a: sys.exit(130))\n"
                "print('ready', flush=True)\n"
                "time.sleep(60)\n")
# One that ignores the stop: only the kill ends it.
STUBBORN_CHILD = ("import signal, time\n"
                  "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                  "print('ready', flush=True)\n"
                  "time.sleep(60)\n")


@pytest.fixture
def options_box(qtbot, tmp_path):
    box = StudyOptionsBox(tmp_path / "runs")
    qtbot.addWidget(box)
    return box


def test_options_make_the_command_line(options_box, tmp_path):
    assert Path(options_box.folder.text()).parent == tmp_path / "runs"
    assert Path(options_box.folder.text()).name.startswith("search-")
    options_box.trials.setValue(7)
    options_box.sampler.setCurrentIndex(options_box.sampler.findData("random"))
    options_box.pruner.setCurrentIndex(options_box.pruner.findData("none"))
    options_box.set_folder(tmp_path / "study")
    options_box.storage.setText(" postgresql://me@db/studies ")
    options_box.study_name.setText("lr-sweep")
    options = options_box.options()
    command = search_command(tmp_path / "study" / "settings.toml", tmp_path / "study" / "space.toml", options)
    assert command[:3] == [sys.executable, "-m", "ftstudio"]
    assert command[3:] == ["search", "--config", str(tmp_path / "study" / "settings.toml"),
                           "--space", str(tmp_path / "study" / "space.toml"), "--trials", "7", "--sampler", "random",
                           "--pruner", "none", "--output", str(tmp_path / "study"),
                           "--storage", "postgresql://me@db/studies", "--study-name", "lr-sweep", "--quiet"]
    # The defaults add no database flags; a chosen folder stays until the study is done with.
    options_box.storage.setText("")
    options_box.study_name.setText("")
    assert "--storage" not in options_box.options().cli_arguments()
    options_box.name_new_folder()
    assert options_box.options().study_dir == tmp_path / "study"
    options_box.forget_folder()
    assert options_box.options().study_dir.name.startswith("search-")
    assert resume_command(tmp_path / "study")[3:] == ["search", "--resume", "--output", str(tmp_path / "study"),
                                                      "--quiet"]
    assert resume_command(tmp_path / "study", 30)[-2:] == ["--trials", "30"]


def test_the_last_line_of_the_log_is_the_error():
    log = "Study s: 2 trials\ntrial 0: ...\nftstudio: error: data: no file named nope.csv.\n\n"
    assert last_line(log) == "data: no file named nope.csv."
    assert last_line("") == ""


def _start(qtbot, tmp_path, code: str) -> SearchProcess:
    process = SearchProcess()
    outputs: list[str] = []
    process.sig_output.connect(outputs.append)
    process.start([sys.executable, "-c", code], tmp_path / "search.log")
    qtbot.waitUntil(lambda: "ready" in "".join(outputs), timeout=WAIT_MS)
    return process


def test_stop_interrupts_the_child_and_leaves_nothing(qtbot, tmp_path):
    process = _start(qtbot, tmp_path, POLITE_CHILD)
    pid = process.pid
    with qtbot.waitSignal(process.sig_finished, timeout=WAIT_MS) as finished:
        process.stop()
    assert finished.args == [130] and process.stop_requested
    assert not process.is_running() and not psutil.pid_exists(pid)
    assert (tmp_path / "search.log").read_text() == "ready\n"


def test_a_child_that_ignores_the_stop_is_killed(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(search_process, "STOP_GRACE_S", 0.5)
    process = _start(qtbot, tmp_path, STUBBORN_CHILD)
    pid = process.pid
    with qtbot.waitSignal(process.sig_finished, timeout=WAIT_MS) as finished:
        process.stop()
    assert finished.args[0] != 0 and not psutil.pid_exists(pid)
    # shutdown() waits, and kills when the wait runs out.
    process = _start(qtbot, tmp_path, STUBBORN_CHILD)
    pid = process.pid
    process.shutdown(timeout_s=0.5)
    assert not process.is_running() and not psutil.pid_exists(pid)
