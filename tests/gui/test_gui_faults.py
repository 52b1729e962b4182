"""The window under faults and bad input: the real MainWindow, the real engine, a tiny model.

- The bad-input catalogue of tests/engine/test_bad_inputs.py, given the way a user gives it in
  the window (data and model choices, settings files): each must end in one readable message
  (the Setup tab's red line, or the Train tab's failure banner), no traceback, no run folder.
- Stop pressed while loading, tokenizing, evaluating and saving; start/stop cycles with resident
  memory and thread counts measured (5 cycles by default, 50 with `-m stress`:
  `.venv/bin/python -m pytest -m stress tests/gui/test_gui_faults.py`).
- A diverging run, a full disk and a killed run's resume, as the window shows them.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.gui.conftest import quiet_main_window

pytest.importorskip("pytestqt")


from ftstudio.engine.settings import TrainSettings  # noqa: E402
from tests.engine.test_bad_inputs import BadInput, bad_inputs  # noqa: E402

WAIT_MS = 120_000


# A throwaway organisation and settings folder for each test (tests/gui/conftest.py).
pytestmark = pytest.mark.usefixtures("temp_qsettings")


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch):
    import datasets

    cache = str(tmp_path_factory.getbasetemp() / "hf-datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setenv("HF_DATASETS_CACHE", cache)  # for the training child processes


@pytest.fixture
def window(qtbot, runs_dir):
    win = quiet_main_window(qtbot, runs_dir, confirm_close=True)
    yield win
    win.shutdown()


def _idle(window) -> bool:
    setup = window.setup
    return not setup.model_panel.is_busy() and not setup.data_panel.is_loading()


def _use(qtbot, window, settings: TrainSettings) -> None:
    """Put valid choices on the Setup tab and wait until the model and data are read."""
    window.setup.apply_settings(settings)
    qtbot.waitUntil(lambda: _idle(window) and window.setup.model_panel.model_info() is not None
                    and window.setup.data_panel.prepared() is not None, timeout=WAIT_MS)


def _tiny(model: Path, data: Path, **changes) -> TrainSettings:
    return TrainSettings(model=str(model), data=str(data), epochs=1, batch_size=8, max_length=32, log_steps=1,
                         device="cpu").replace(**changes)


# ------------------------------------------------------------------ bad input through the window
def _answer(qtbot, window, case: BadInput, tmp_path: Path, good: TrainSettings) -> str:
    """What the window tells the user about `case`, given the way a user would give it."""
    setup = window.setup
    if case.where == "data":
        setup.data_panel.set_data(case.data or good.data, *case.columns)
    elif case.where == "model":
        setup.model_panel.set_model_spec(case.model)
    else:
        path = case.settings_file
        if case.settings is not None:
            path = str(tmp_path / f"window-{abs(hash(case.name))}.json")
            Path(path).write_text(json.dumps(case.settings), encoding="utf-8")
        try:
            if not window.load_settings_file(path):
                return setup.problem.text()
        except Exception as exc:  # noqa: BLE001 - a crash here is the finding
            return f"<raised {type(exc).__name__}: {exc}>"
    qtbot.wait(50)  # let the panels queue their background reads
    qtbot.waitUntil(lambda: _idle(window), timeout=WAIT_MS)
    if window.current_settings() is None:
        return setup.problem.text()
    # The Setup tab let it through: the engine must refuse it when the run starts (a run that
    # gets to its first step was not refused: stop it there rather than train to the end).
    panel = window.training_panel
    window.session.sig_step.connect(panel.stop)
    try:
        with qtbot.waitSignal(panel.sig_run_finished, timeout=WAIT_MS) as finished:
            assert panel.start()
    finally:
        window.session.sig_step.disconnect(panel.stop)
    result = finished.args[0]
    return panel.banner.text() if result["status"] == "failed" else f"<the run {result['status']}>"


# Settings files whose values the form's widgets cannot hold: once clamped without a word, now
# refused on load with the setting named (a test of their own, so a regression is named as such).
WINDOW_CLAMPS = {"batch size 0", "max_length too long", "validation split too big", "unknown strategy",
                 "bottom-N beyond the model", "reinit more layers than exist"}


def _window_cases(tmp_path, model, data):
    # (A case with command-line flags, such as --task pretrain, needs settings the data or model
    # entry alone does not give: tests/gui/setup covers those in the window.)
    cases = [c for c in bad_inputs(tmp_path / "bad", model, data)
             if c.where in ("data", "model", "settings") and not c.flags]
    return cases


def _check_cases(qtbot, window, cases, tmp_path, model, data, runs_dir, capfd) -> list[str]:
    good = _tiny(model, data)
    _use(qtbot, window, good)
    failures = []
    for case in cases:
        message = _answer(qtbot, window, case, tmp_path, good)
        if message.startswith("<") or not message:
            failures.append(f"{case.name}: no message ({message or 'nothing shown'})")
        elif "Traceback" in message or not any(n.lower() in message.lower() for n in case.needles):
            failures.append(f"{case.name}: {message!r} lacks {case.needles}")
        _use(qtbot, window, good)  # back to a valid setup for the next case
    err = capfd.readouterr().err
    if "Traceback" in err:
        failures.append(f"traceback on stderr: {err[err.index('Traceback'):][:600]}")
    leftovers = [p.name for p in runs_dir.iterdir()] if runs_dir.exists() else []
    if leftovers:
        failures.append(f"run folders left behind: {leftovers}")
    return failures


def test_bad_input_in_the_window_gets_one_clear_message(qtbot, window, tmp_path, tiny_model_dir, small_csv,
                                                        runs_dir, capfd):
    cases = [c for c in _window_cases(tmp_path, tiny_model_dir, small_csv) if c.name not in WINDOW_CLAMPS]
    # Window-only ways to get it wrong: a typed setting that is no number, an unwritable runs folder.
    assert len(cases) >= 30
    failures = _check_cases(qtbot, window, cases, tmp_path, tiny_model_dir, small_csv, runs_dir, capfd)
    assert not failures, "\n".join(failures)

    window.setup.settings_panel.widget_for("learning_rate").setText("lots")
    assert window.current_settings() is None and "learning_rate" in window.setup.problem.text()


def test_out_of_range_settings_files_are_refused_by_the_window(qtbot, window, tmp_path, tiny_model_dir, small_csv,
                                                               runs_dir, capfd):
    cases = [c for c in _window_cases(tmp_path, tiny_model_dir, small_csv) if c.name in WINDOW_CLAMPS]
    failures = _check_cases(qtbot, window, cases, tmp_path, tiny_model_dir, small_csv, runs_dir, capfd)
    assert not failures, "\n".join(failures)


def test_unwritable_runs_folder_is_refused_with_words(qtbot, tmp_path, tiny_model_dir, small_csv):
    from ftstudio.gui.main_window import MainWindow

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    win = MainWindow(runs_dir=blocker / "runs")
    win.training_panel.show_dialogs = False
    qtbot.addWidget(win)
    try:
        _use(qtbot, win, _tiny(tiny_model_dir, small_csv))
        with qtbot.waitSignal(win.training_panel.sig_run_finished, timeout=WAIT_MS) as finished:
            assert win.training_panel.start()
        assert finished.args[0]["status"] == "failed"
        banner = win.training_panel.banner.text()
        assert "runs folder" in banner and "Traceback" not in banner
    finally:
        win.shutdown()


# ------------------------------------------------------------------ stop at every phase
def _stop_when(qtbot, window, signal_name: str | None, predicate=None) -> dict:
    """Start a run, press Stop when `predicate(*args)` holds for the session's signal (at once
    when `signal_name` is None: still loading), and return how the run ended."""
    session, panel = window.session, window.training_panel
    pressed = []

    def maybe_stop(*args):
        if not pressed and predicate(*args):
            pressed.append(args)
            panel.stop()

    if signal_name:
        getattr(session, signal_name).connect(maybe_stop)
    try:
        with qtbot.waitSignal(panel.sig_run_finished, timeout=WAIT_MS) as finished:
            assert panel.start()
            if signal_name is None:
                pressed.append(())
                panel.stop()
    finally:
        if signal_name:
            getattr(session, signal_name).disconnect(maybe_stop)
    assert pressed, f"the run ended before {signal_name} matched"
    return finished.args[0]


def _assert_stopped_cleanly(window, result: dict) -> None:
    panel = window.training_panel
    assert result["status"] == "stopped", result
    assert panel.state() == "stopped" and panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    assert not window.session.is_running()
    if result["run_dir"]:
        run_dir = Path(result["run_dir"])
        assert json.loads((run_dir / "status.json").read_text())["status"] == "stopped"
        if (run_dir / "last").exists():
            from ftstudio.engine.predict.predictor import Predictor

            assert Predictor(run_dir / "last").label_names == ["negative", "neutral", "positive"]


def test_stop_while_loading_tokenizing_evaluating_and_saving(qtbot, window, tiny_model_dir, small_csv):
    _use(qtbot, window, _tiny(tiny_model_dir, small_csv, epochs=20, eval_steps=3, save_steps=2))
    phases = {
        "loading": (None, None),  # pressed right after Start
        "tokenizing": ("sig_progress", lambda phase, done, total: phase.startswith("tokenizing")),
        "evaluating": ("sig_status", lambda status, message: status == "evaluating"),
        "saving": ("sig_status", lambda status, message: status == "saving"),
    }
    for name, (signal_name, predicate) in phases.items():
        result = _stop_when(qtbot, window, signal_name, predicate)
        _assert_stopped_cleanly(window, result)
        if name in ("evaluating", "saving"):
            assert result["run_dir"] and (Path(result["run_dir"]) / "last").is_dir(), name


# ------------------------------------------------------------------ start/stop cycles
def _rss() -> int:
    import gc

    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss


def _cycles(qtbot, window, model, data, count: int) -> list[int]:
    _use(qtbot, window, _tiny(model, data, epochs=50))
    rss, threads = [], []
    for number in range(count):
        # Alternate where the stop lands: right after Start, or once training has begun.
        if number % 2:
            result = _stop_when(qtbot, window, "sig_step", lambda event: True)
        else:
            result = _stop_when(qtbot, window, None)
        _assert_stopped_cleanly(window, result)
        # The worker thread has ended and been released, not merely asked to.
        qtbot.waitUntil(lambda: getattr(window.session, "_thread", None) is None, timeout=WAIT_MS)
        rss.append(_rss())
        threads.append(threading.active_count())
    print(f"resident MiB per cycle: {[r // 2**20 for r in rss]}; threads: {threads}")
    assert max(threads[1:], default=0) <= threads[0] + 1, f"threads grew: {threads}"
    return rss


def test_five_start_stop_cycles(qtbot, window, tiny_model_dir, small_csv):
    rss = _cycles(qtbot, window, tiny_model_dir, small_csv, 5)
    assert rss[-1] - rss[1] < 150 * 2**20, f"resident memory grew by {(rss[-1] - rss[1]) / 2**20:.0f} MiB: {rss}"


@pytest.mark.stress
def test_fifty_start_stop_cycles_without_growing_memory(qtbot, window, tiny_model_dir, small_csv):
    rss = _cycles(qtbot, window, tiny_model_dir, small_csv, 50)
    # After warm-up (first runs import torch, build caches), memory must level off.
    growth = rss[-1] - rss[9]
    assert growth < 64 * 2**20, f"resident memory grew by {growth / 2**20:.0f} MiB over 40 cycles: {rss}"


# ------------------------------------------------------------------ faults shown in the window
# The window's training child, with a fault injected at step 5 as FTSTUDIO_TEST_FAULT says:
# "nan" fills a weight with NaN (a diverging run), "disk" raises ENOSPC (a full disk).
FAULTY_CHILD = r"""
import errno, os, sys
import torch
from ftstudio.engine.training.trainer import Trainer
original = Trainer._optimizer_step
def step(self, group):
    original(self, group)
    if self.global_step == 5:
        if os.environ["FTSTUDIO_TEST_FAULT"] == "nan":
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))
        else:
            raise OSError(errno.ENOSPC, "No space left on device")
Trainer._optimizer_step = step
from ftstudio.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_diverging_run_and_full_disk_are_explained_in_the_window(qtbot, window, monkeypatch, tiny_model_dir,
                                                                  small_csv):
    import sys

    from ftstudio.engine.training import child_process as training_process

    monkeypatch.setattr(training_process, "child_command",
                        lambda: [sys.executable, "-c", FAULTY_CHILD, training_process.CHILD_ARGUMENT])
    _use(qtbot, window, _tiny(tiny_model_dir, small_csv, save_steps=3))
    panel = window.training_panel
    for kind, words in (("nan", ("learning rate", "checkpoint is kept")), ("disk", ("disk", "full"))):
        monkeypatch.setenv("FTSTUDIO_TEST_FAULT", kind)
        with qtbot.waitSignal(panel.sig_run_finished, timeout=WAIT_MS) as finished:
            assert panel.start()
        result = finished.args[0]
        assert result["status"] == "failed" and panel.state() == "failed"
        banner = panel.banner.text()
        assert all(w in banner.lower() for w in words) and "Traceback" not in banner, banner
        run_dir = Path(result["run_dir"])
        assert json.loads((run_dir / "last" / "trainer_state.json").read_text())["global_step"] == 3


def test_a_killed_run_is_shown_interrupted_and_resumes_from_the_window(qtbot, window, tiny_model_dir, small_csv,
                                                                        runs_dir):
    from ftstudio.engine.events import TrainingControl
    from ftstudio.engine.runs import folder as runs
    from ftstudio.engine.training.train import train
    from tests.engine.training.test_train import Recorder

    control = TrainingControl()
    stopped = train(_tiny(tiny_model_dir, small_csv, epochs=2), runs_dir=runs_dir,
                    reporter=Recorder(control, stop_at=4), control=control)
    runs.write_status(stopped.run_dir, "training", "", 4)  # what SIGKILL leaves behind
    (stopped.run_dir / ".status.json.x1.tmp").write_text("{")
    window.runs_panel.refresh()
    summary = next(s for s in window.runs_panel.summaries() if s.run_dir == stopped.run_dir)
    assert summary.status == "interrupted" and summary.can_resume
    assert window.runs_panel.select_run(stopped.run_dir)
    assert window.runs_panel.resume_button.isEnabled()
    with qtbot.waitSignal(window.training_panel.sig_run_finished, timeout=WAIT_MS) as finished:
        window.runs_panel.resume_button.click()
    assert finished.args[0]["status"] == "finished", finished.args[0]
    assert runs.read_status(stopped.run_dir)["status"] == "finished"
