"""The tester on LoRA runs: every checkpoint of a run (step folders hold only the adapter) is
offered and predicts, and switching between adapters of one base model (this run's steps,
another run's best/) attaches an adapter instead of loading the model again; a run with other
labels gets its own base."""

from __future__ import annotations

import gc
import time

import pytest

from tests.lora_runs import lora_runs, steps

pytest.importorskip("pytestqt")

WAIT_MS = 60_000  # the first load imports torch and loads the base model
TEXT = "great flight love the crew"


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory):
    return lora_runs(tiny_model_dir, tmp_path_factory)


@pytest.fixture
def tester(qtbot, runs):
    from ftstudio.gui.tester.panel import TesterPanel

    panel = TesterPanel(runs.runs_dir)
    qtbot.addWidget(panel)
    panel.set_run(runs.a)
    yield panel
    assert panel.shutdown()


def _pick(qtbot, tester, path) -> dict:
    """Pick `path` in the model picker and wait for its answer to TEXT; the answer, with the
    seconds it took."""
    started = time.monotonic()
    with qtbot.waitSignal(tester.sig_predicted, timeout=WAIT_MS) as blocker:
        assert tester.picker.select_path(str(path))
    return {**blocker.args[0], "seconds": time.monotonic() - started}


def test_picker_offers_the_adapter_steps(tester, runs):
    texts = [tester.picker.itemText(i) for i in range(tester.picker.count())]
    for step in steps(runs.a):
        assert any(f"step {step.name.split('-')[1]} (adapter)" in t for t in texts), texts
    assert tester.picker.current_path() == str(runs.a / "best")
    assert tester.picker.current_task()["name"] == "single-label"


def test_switching_adapters_reuses_the_base_model(qtbot, tester, runs, base_loads):
    from ftstudio.engine.predict.adapter_checkpoints import REUSED_NOTE
    from ftstudio.engine.predict.predictor import Predictor

    other_best = runs.b / "best"  # another run of the same base and labels
    picks = [*steps(runs.a), other_best, runs.two / "best"]
    # What the engine alone answers (best/ from its merged weights), before the tester loads anything.
    expected = {path: Predictor(path).predict(TEXT)[0] for path in picks}
    gc.collect()
    base_loads.clear()
    with qtbot.waitSignal(tester.sig_predicted, timeout=WAIT_MS) as blocker:
        tester.try_text(TEXT)
    assert blocker.args[0]["path"] == str(runs.a / "best")
    assert len(base_loads) == 1 and "base model loaded" in tester.column_a.state.text()
    assert tester.picker.findText(f"{runs.b.name} · best") >= 0
    for path in picks:
        answer = _pick(qtbot, tester, path)
        assert answer["label"] == expected[path].label
        assert answer["probabilities"] == pytest.approx(expected[path].probabilities, abs=1e-5)
        if path.parent != runs.two:
            # This run's steps and the other run's best/: adapters attached to the base in memory.
            assert tester.column_a.state.text().endswith(REUSED_NOTE), path
            assert len(base_loads) == 1, base_loads
            assert answer["seconds"] < 10
    # Another label set: a head of another width, so a base of its own.
    assert sorted(answer["probabilities"]) == ["negative", "positive"]
    assert len(base_loads) == 2 and "base model loaded" in tester.column_a.state.text()
    # A step picked again is still loaded: its answer comes without loading anything.
    answer = _pick(qtbot, tester, steps(runs.a)[0])
    assert answer["label"] == expected[steps(runs.a)[0]].label and len(base_loads) == 2
