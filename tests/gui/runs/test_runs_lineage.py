"""The Runs tab shows where a run's model came from (run folders made by hand): the lineage line
with clickable ancestor runs, "from <run>" in the list, and "Fine-tune from this" on a finished
pre-training run, carried through the window to Setup (and offered on the Train tab too)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.engine.runs.run_folders import make_run, trainer_state
from tests.gui.conftest import quiet_main_window

WAIT_MS = 60000


@pytest.fixture
def family(tmp_path):
    runs_dir = tmp_path / "runs"
    pre = make_run(runs_dir, "20261129-1830-pretrain", task="pretrain", data="/texts/corpus.txt", created=1.0)
    fine = make_run(runs_dir, "20261129-1900-fine", model=str(pre / "best"), created=2.0)
    orphan_parent = make_run(tmp_path / "elsewhere", "old-pretrain", task="pretrain")
    orphan = make_run(runs_dir, "20261129-2000-orphan", model=str(orphan_parent / "last"), created=3.0)
    shutil.rmtree(orphan_parent)
    early = make_run(runs_dir, "20261129-2100-pretrain-stopped", task="pretrain", status="stopped", created=4.0,
                     checkpoints=("last",))  # stopped before its first evaluation: no best/
    return {"dir": runs_dir, "pre": pre, "fine": fine, "orphan": orphan, "early": early}


@pytest.fixture
def panel(qtbot, family):
    from ftstudio.gui.runs.panel import RunsPanel

    widget = RunsPanel(family["dir"])
    widget.resize(1100, 700)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _model_column(panel, run_dir) -> str:
    from ftstudio.gui.runs.table import COLUMNS

    row = next(r for r, s in enumerate(panel.model.summaries()) if s.run_dir == run_dir)
    return panel.model.data(panel.model.index(row, COLUMNS.index("Model")))


def test_the_details_show_the_lineage_and_an_ancestor_click_selects_it(panel, family):
    assert _model_column(panel, family["fine"]) == "from 20261129-1830-pretrain"
    assert _model_column(panel, family["pre"]) == "default"
    panel.select_run(family["fine"])
    details = panel.details
    assert details.lineage_text() == ("Started from: run 20261129-1830-pretrain (continued pre-training on "
                                      "corpus.txt) ← all-MiniLM-L6-v2 (embedded default)")
    assert '<a href="0">run 20261129-1830-pretrain</a>' in details.lineage.text()
    assert "model from 20261129-1830-pretrain" in details.facts.text().replace("<b>", "").replace("</b>", "")
    panel.filter.setText("fine")  # the parent is filtered out: a click brings it back
    details.lineage.linkActivated.emit("0")
    assert panel.selected_runs() == [family["pre"]] and panel.filter.text() == ""
    assert details.summary.run_id == "20261129-1830-pretrain"
    assert not details.lineage.isVisibleTo(details)  # started from the embedded default: nothing to add


def test_a_gone_parent_is_named_without_a_link(qtbot, panel, family, tmp_path):
    panel.select_run(family["orphan"])
    text = panel.details.lineage_text()
    assert text.startswith("Started from: run old-pretrain (run folder gone: ")
    assert "<a " not in panel.details.lineage.text()
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save(str(tmp_path / "runs-lineage-gone.png"))


def test_fine_tune_from_this_is_offered_for_a_finished_pretraining_run(qtbot, panel, family):
    panel.select_run(family["fine"])
    assert not panel.finetune_button.isEnabled()
    assert "pre-training run" in panel.finetune_button.toolTip()
    panel.select_run(family["early"])
    assert not panel.finetune_button.isEnabled() and "it is stopped" in panel.finetune_button.toolTip()
    panel.select_run(family["pre"])
    assert panel.finetune_button.isEnabled() and "best/" in panel.finetune_button.toolTip()
    with qtbot.waitSignal(panel.sig_finetune_from, timeout=5000) as signal:
        panel.finetune_button.click()
    assert signal.args == [str(family["pre"] / "best")]


@pytest.mark.usefixtures("temp_qsettings")
def test_fine_tune_from_this_sets_setups_model_and_shows_setup(qtbot, tmp_path, tiny_model_dir):
    from ftstudio.engine.tasks.registry import TASK_CHOICES

    runs_dir = tmp_path / "runs"
    pre = make_run(runs_dir, "20261129-1830-pretrain", task="pretrain", checkpoints=())
    shutil.copytree(tiny_model_dir, pre / "best")  # a real model folder, so Setup can inspect it
    (pre / "best" / "trainer_state.json").write_text(json.dumps(trainer_state("pretrain", "default")))
    window = quiet_main_window(qtbot, runs_dir)
    if "pretrain" in TASK_CHOICES:  # the task choice arrives with the pretrain task
        window.setup.apply_settings(window.gathered_settings().replace(task="pretrain"))
        assert window.gathered_settings().task == "pretrain"
    window.runs_panel.refresh()
    window.tabs.setCurrentIndex(3)
    assert window.runs_panel.select_run(pre)
    window.runs_panel.finetune_button.click()
    assert window.tabs.currentIndex() == 0
    assert window.model_panel.model_spec() == str(pre / "best")
    assert window.gathered_settings().task == "auto"
    assert "run 20261129-1830-pretrain's best/" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.model_panel.model_info() is not None or bool(window.model_panel.error()),
                    timeout=WAIT_MS)
    assert not window.model_panel.error()


def test_the_train_tab_offers_fine_tune_after_a_pretraining_run(qtbot, tmp_path):
    from ftstudio.gui.train.panel import TrainingPanel
    from ftstudio.gui.train.session import TrainingSession

    pre = make_run(tmp_path, "pre", task="pretrain")
    session = TrainingSession()
    panel = TrainingPanel(session, lambda: None, tmp_path)
    panel.show_dialogs = False
    qtbot.addWidget(panel)
    try:
        session.sig_info.emit({"task": "single-label", "metrics": ["accuracy", "f1"], "total_steps": 20})
        session.sig_finished.emit({"status": "finished", "run_dir": str(pre)})
        assert panel.finetune_button.isHidden()  # not a pre-training run
        session.sig_info.emit({"task": "pretrain", "metrics": ["perplexity", "token_accuracy"], "total_steps": 20})
        session.sig_finished.emit({"status": "failed", "run_dir": str(pre), "message": "boom"})
        assert panel.finetune_button.isHidden()
        session.sig_finished.emit({"status": "finished", "run_dir": str(pre)})
        assert not panel.finetune_button.isHidden()
        with qtbot.waitSignal(panel.sig_finetune_from, timeout=5000) as signal:
            panel.finetune_button.click()
        assert signal.args == [str(pre / "best")]
    finally:
        assert session.shutdown(10_000)
        panel.shutdown()
