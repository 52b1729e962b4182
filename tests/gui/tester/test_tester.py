"""The tester panel against a real tiny run: predictions, comparison, file tests, inline errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_texts, write_csv
from tests.gui.tester.helpers import browse_to

pytest.importorskip("pytestqt")

WAIT_MS = 60_000  # first use of a checkpoint imports torch and loads the model


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_model_dir) -> Path:
    """One finished run (1 epoch on 120 rows, 3 classes), trained once for this module."""
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    root = tmp_path_factory.mktemp("tester")
    data = write_csv(root / "small.csv", make_texts(120))
    settings = TrainSettings(model=str(tiny_model_dir), data=str(data), epochs=1, batch_size=8, max_length=32)
    result = train(settings, runs_dir=root / "runs")
    assert result.status == "finished", result.message
    return result.run_dir


@pytest.fixture
def tester(qtbot, trained_run):
    from ftstudio.gui.tester.panel import TesterPanel

    panel = TesterPanel(trained_run.parent)
    qtbot.addWidget(panel)
    panel.set_run(trained_run)
    yield panel
    assert panel.shutdown()


def _labels(run_dir: Path) -> list[str]:
    from ftstudio.engine.runs.folder import read_metrics

    return next(r["label_names"] for r in read_metrics(run_dir) if r.get("event") == "info")


def test_picker_lists_best_last_and_step_checkpoints(tester, trained_run):
    texts = [tester.picker.itemText(i) for i in range(tester.picker.count())]
    assert any("· best" in t for t in texts)
    assert any("· last" in t for t in texts)
    assert any("step " in t and "best" not in t and "last" not in t for t in texts)
    assert texts[-1] == "Browse folder…"
    assert tester.picker.current_path() == str(trained_run / "best")
    tester.refresh_checkpoints()  # keeps the pick
    assert tester.picker.current_path() == str(trained_run / "best")


def test_typing_enter_shows_label_and_one_bar_per_class(qtbot, tester, trained_run):
    with qtbot.waitSignal(tester.sig_predicted, timeout=WAIT_MS) as blocker:
        tester.text.setText("great flight thanks crew")
        tester.text.returnPressed.emit()
    result = blocker.args[0]
    labels = _labels(trained_run)
    assert result["slot"] == "a"
    assert result["label"] in labels
    assert tester.column_a.predicted_label() == result["label"]
    rows = tester.column_a.bars.rows()
    assert sorted(name for name, _ in rows) == sorted(labels)
    assert sum(p for _, p in rows) == pytest.approx(1.0, abs=1e-3)
    assert rows == sorted(rows, key=lambda r: -r[1])  # most likely first by default
    tester.order.setCurrentIndex(1)
    assert [name for name, _ in tester.column_a.bars.rows()] == labels


def test_first_prediction_shows_loading_state(qtbot, tester):
    states = []
    # Connected after the panel's own slot, so it sees what the slot showed.
    tester.service.sig_busy.connect(lambda info: states.append(tester.column_a.state.text()))
    with qtbot.waitSignal(tester.sig_predicted, timeout=WAIT_MS):
        tester.try_text("good")
    assert states and states[0].startswith("Loading model")
    assert tester.column_a.state.text() == ""


def test_shutdown_during_model_load_is_clean(tester):
    tester.try_text("good")
    assert tester.shutdown(timeout_ms=60_000)
    assert not tester.service.is_running()


def test_example_link_predicts(qtbot, tester):
    from ftstudio.gui.tester.panel import EXAMPLES

    with qtbot.waitSignal(tester.sig_predicted, timeout=WAIT_MS):
        tester.examples.linkActivated.emit("1")
    assert tester.text.text() == EXAMPLES[1]
    assert tester.column_a.predicted_label()


def test_compare_with_base_model_shows_two_results(qtbot, tester, trained_run):
    tester.text.setText("awful delayed flight")
    tester.compare_box.setChecked(True)
    assert "base model (untrained head)" in tester.compare_picker.currentText()
    assert tester.column_b.isVisibleTo(tester)
    with qtbot.waitSignal(
        tester.sig_predicted, timeout=WAIT_MS, check_params_cb=lambda r: r["slot"] == "b"
    ) as b:
        tester.predict_now()
    assert "base model (untrained head)" in tester.column_b.title.text()
    assert b.args[0]["label"] in _labels(trained_run)
    assert tester.column_a.predicted_label() in _labels(trained_run)
    assert len(tester.column_b.bars.rows()) == len(_labels(trained_run))


def test_file_test_shows_accuracy_f1_and_confusion(qtbot, tester, trained_run, tmp_path):
    data = write_csv(tmp_path / "holdout.csv", make_texts(30, seed=7))
    tester.choose_file = lambda: str(data)
    with qtbot.waitSignal(tester.sig_file_tested, timeout=WAIT_MS) as blocker:
        tester.file_button.click()
    evaluation = blocker.args[0]
    assert 0.0 <= evaluation["accuracy"] <= 1.0
    assert "Accuracy" in tester.file_summary.text() and "macro F1" in tester.file_summary.text()
    labels = _labels(trained_run)
    matrix = tester.confusion.matrix()
    assert len(matrix) == len(labels) and all(len(row) == len(labels) for row in matrix)
    assert sum(map(sum, matrix)) == 30
    assert tester.confusion.labels() == labels
    assert tester.confusion.isVisibleTo(tester)
    assert tester.file_button.isEnabled()


def test_file_with_unknown_labels_shows_inline_error(qtbot, tester, tmp_path):
    data = write_csv(tmp_path / "pets.csv", [("a cat", "cat"), ("a dog", "dog")] * 5)
    with qtbot.waitSignal(tester.sig_failed, timeout=WAIT_MS) as blocker:
        tester.test_file(data)
    assert blocker.args[0]["slot"] == "file"
    assert "unknown to the model" in tester.file_summary.text()
    assert not tester.confusion.isVisibleTo(tester)


def test_unreadable_file_shows_inline_error(qtbot, tester, tmp_path):
    missing = tmp_path / "nope.csv"
    with qtbot.waitSignal(tester.sig_failed, timeout=WAIT_MS) as blocker:
        tester.test_file(missing)
    message = blocker.args[0]["message"]
    assert message and "Unexpected error" not in message
    assert tester.file_summary.text() == message


def test_folder_that_is_not_a_checkpoint_shows_inline_error(qtbot, tester, tmp_path):
    browse_to(tester.picker, tmp_path)
    with qtbot.waitSignal(tester.sig_failed, timeout=WAIT_MS) as blocker:
        tester.try_text("hello")
    assert "checkpoint" in blocker.args[0]["message"]
    assert tester.column_a.state.text() == blocker.args[0]["message"]
    assert tester.column_a.predicted_label() == ""


def test_run_without_checkpoint_explains_then_picks_up_the_first_one(qtbot, tmp_path, trained_run):
    import shutil

    from ftstudio.engine.runs.folder import write_settings
    from ftstudio.gui.tester.panel import TesterPanel

    run = tmp_path / "runs" / "fresh"
    run.mkdir(parents=True)
    write_settings(run, {"model": "default", "data": "sample"}, {})
    panel = TesterPanel(tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.set_run(run)
    try:
        assert panel.picker.current_path() == ""
        with qtbot.waitSignal(panel.sig_failed, timeout=5000) as blocker:
            panel.try_text("hello")
        assert "no checkpoint yet" in blocker.args[0]["message"]
        # Training saves a checkpoint; the main window calls refresh_checkpoints().
        shutil.copytree(trained_run / "best", run / "best")
        with qtbot.waitSignal(panel.picker.sig_model_changed, timeout=1000):
            panel.refresh_checkpoints()
        assert panel.picker.current_path() == str(run / "best")
    finally:
        assert panel.shutdown()


def test_a_new_run_is_picked_once_it_has_a_checkpoint_unless_the_user_chose(qtbot, tmp_path, trained_run):
    """A run started after another: until it has a checkpoint the default pick is the other run's
    best; when its own lands, the pick moves to it, but never away from what the user chose."""
    import shutil

    from ftstudio.engine.runs.folder import write_settings
    from ftstudio.gui.tester.panel import TesterPanel

    runs = tmp_path / "runs"
    shutil.copytree(trained_run, runs / "first")
    second = runs / "second"
    second.mkdir()
    write_settings(second, {"model": "default", "data": "sample"}, {})
    panel = TesterPanel(runs)
    qtbot.addWidget(panel)
    panel.set_run(second)
    try:
        assert panel.picker.current_path() == str(runs / "first" / "best")
        shutil.copytree(trained_run / "best", second / "best")
        panel.refresh_checkpoints()
        assert panel.picker.current_path() == str(second / "best")
        # The user picks the first run's model: later checkpoints of this run leave it alone.
        index = next(i for i in range(panel.picker.count()) if "first" in panel.picker.itemText(i))
        panel.picker.setCurrentIndex(index)
        panel.picker.activated.emit(index)
        panel.refresh_checkpoints()
        assert panel.picker.current_path() == str(runs / "first" / "best")
    finally:
        assert panel.shutdown()


def test_newest_request_wins(qtbot, tester):
    """Typing fast sends many requests; only the last one's answer is shown."""
    seen = []
    tester.sig_predicted.connect(seen.append)
    for text in ("good", "good flight", "good flight crew"):
        tester.text.setText(text)
        tester.predict_now()
    with qtbot.waitSignal(tester.sig_predicted, timeout=WAIT_MS):
        pass
    assert [r["text"] for r in seen] == ["good flight crew"]
