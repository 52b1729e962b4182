"""The window's training worker: every Reporter method of the child becomes its signal, with the
payload the Train tab reads (plain dicts and strings), and the session re-exposes each one."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from ftstudio.engine.events import REPORTER_METHODS, to_plain  # noqa: E402
from ftstudio.gui.train.session import TrainingSession  # noqa: E402
from ftstudio.gui.train.worker import REPORTER_SIGNALS, TrainingWorker, signal_name  # noqa: E402
from tests.engine.test_events import SAMPLE_CALLS, call_every_method  # noqa: E402


class ScriptedProcess:
    """Stands in for the training child: relays one call of every Reporter method, then a result."""

    def start(self) -> None:
        pass

    def relay(self, reporter) -> dict:
        call_every_method(reporter)
        return {"run_dir": "", "status": "finished", "message": "", "best": None}


def test_every_reporter_method_has_a_worker_and_a_session_signal():
    assert REPORTER_SIGNALS == tuple(signal_name(method) for method in REPORTER_METHODS)
    assert signal_name("on_checkpoint") == "sig_checkpoint"
    for name in REPORTER_SIGNALS:
        assert hasattr(TrainingWorker, name) and hasattr(TrainingSession, name), name
        assert name in TrainingSession._FORWARDED


def test_each_call_of_the_child_is_emitted_as_its_signal(qtbot):
    worker = TrainingWorker(None, None)
    worker.process = ScriptedProcess()
    emitted: list[tuple[str, tuple]] = []
    for name in (*REPORTER_SIGNALS, "sig_finished"):
        getattr(worker, name).connect(lambda *args, name=name: emitted.append((name, args)))
    worker.run()
    expected = [(signal_name(method), tuple(to_plain(method, SAMPLE_CALLS[method]))) for method in REPORTER_METHODS]
    # The worker announces the start itself, before the child reports anything.
    assert emitted[0] == ("sig_status", ("preparing", "")) and emitted[1][0] == "sig_log"
    assert emitted[2:-1] == expected
    assert isinstance(dict(expected)["sig_step"][0], dict)  # the Train tab reads dicts, not events
    finished = emitted[-1]
    assert finished[0] == "sig_finished" and finished[1][0]["status"] == "finished"
    # What the worker keeps for a failure's result: the run folder from on_info, the last status.
    assert finished[1][0]["run_dir"] == SAMPLE_CALLS["on_info"][0]["run_dir"] == worker.run_dir
    assert worker.last_status == SAMPLE_CALLS["on_status"][0]


def test_a_child_that_cannot_start_is_a_failure_in_words(qtbot):
    class Unstartable(ScriptedProcess):
        def start(self) -> None:
            raise FileNotFoundError(2, "No such file or directory", "/no/python")

    worker = TrainingWorker(None, None)
    worker.process = Unstartable()
    with qtbot.waitSignal(worker.sig_finished, timeout=5000) as finished:
        worker.run()
    result = finished.args[0]
    assert result["status"] == "failed"
    assert result["message"].startswith("The training process could not start (FileNotFoundError): ")
