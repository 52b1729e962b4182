"""The Setup page for strategy LoRA: the layers view names each layer's adapters and follows the
rank, targets and embeddings; the LoRA group is enabled for LoRA only, 4-bit weights for CUDA
only; targets that adapt nothing are outlined at once and refused on Start in the engine's words."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.setup.setting_labels import LORA_SETTINGS

WAIT_MS = 60000

pytestmark = pytest.mark.usefixtures("temp_qsettings")

BERT_MODULES = ["query", "key", "value", "attention.output", "intermediate", "output"]


def _statuses(view) -> list[str]:
    table = view._table
    return [table.item(r, 2).text() for r in range(table.rowCount())]


def test_the_layers_view_names_each_layers_adapters_and_follows_the_lora_settings(qtbot, tiny_model_dir):
    from ftstudio.engine.models.adapter_plan import AdapterPlan
    from ftstudio.engine.models.sources import inspect_model
    from ftstudio.gui.setup.layers_view import LayersView

    view = LayersView()
    view.resize(900, 400)  # wide enough for the modules' names in each row
    qtbot.addWidget(view)
    view.set_model(inspect_model(str(tiny_model_dir)))
    with qtbot.waitSignal(view.sig_plan_changed) as shown:
        view.set_strategy("lora")
    plan = shown.args[0]
    assert isinstance(plan, AdapterPlan) and plan is view.plan()
    layer = plan.rows[1]
    assert layer["adapters"] == BERT_MODULES and not layer["trainable"]
    assert layer["adapter_params"] == 8 * (4 * (32 + 32) + 2 * (32 + 37))  # r x (in + out), hidden 32, ffn 37
    assert plan.trainable == plan.adapter_params + plan.rows[-1]["params"]  # adapters and the head
    view.show()
    assert _statuses(view)[1] == f"{', '.join(BERT_MODULES)} +{layer['adapter_params']:,}"
    assert _statuses(view)[0] == "frozen" and _statuses(view)[-1] == "trains in full"
    assert f"{', '.join(BERT_MODULES)} in every layer" in view._detail.text()
    with qtbot.waitSignal(view._table.horizontalHeader().sectionResized, check_params_cb=lambda c, _o, _n: c == 2):
        view.resize(300, 400)  # a narrow column says how many instead of eliding the names
    assert _statuses(view)[1] in (f"6 modules +{layer['adapter_params']:,}", f"+{layer['adapter_params']:,}")

    with qtbot.waitSignal(view.sig_plan_changed):
        view.set_lora(16, "auto", False)
    assert view.plan().adapter_params == 2 * plan.adapter_params
    with qtbot.waitSignal(view.sig_plan_changed):
        view.set_lora(8, "query,value", False)
    assert view.plan().rows[1]["adapters"] == ["query", "value"]
    assert "query, value in every layer" in view._detail.text()
    with qtbot.waitSignal(view.sig_plan_changed):
        view.set_lora(8, "query,value", True)
    embeddings = view.plan().rows[0]
    assert embeddings["trainable"] and _statuses(view)[0] == "trains in full"
    assert view.plan().trainable == view.plan().adapter_params + embeddings["params"] + plan.rows[-1]["params"]

    with qtbot.waitSignal(view.sig_plan_changed, check_params_cb=lambda p: p is None):
        view.set_lora(8, "qury", False)
    assert view.problem().startswith("lora_targets: ") and "'qury'" in view.problem()
    assert view.summary_text() == view.problem() and view._table.rowCount() == 0

    with qtbot.waitSignal(view.sig_plan_changed, check_params_cb=lambda p: p is None):
        view.set_strategy("lora", reinit_top_layers=1)  # refused by the engine: said here already
    assert view.problem().startswith("reinit_top_layers: with strategy lora")

    with qtbot.waitSignal(view.sig_plan_changed):  # the other strategies ignore LoRA's settings
        view.set_strategy("full")
    assert view.problem() == "" and view.plan().trainable == view.plan().total
    assert view._detail.isHidden() and set(_statuses(view)) == {"trains"}


def test_the_lora_group_is_enabled_for_lora_only_and_4bit_for_cuda_only(qtbot):
    from ftstudio.gui.setup.settings_panel import SettingsPanel

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    note = panel.findChild(QLabel, "cudaOnlyNote")
    for name in LORA_SETTINGS:
        widget = panel.widget_for(name)
        assert not widget.isEnabled()
        assert widget.toolTip().startswith("Only for the strategy LoRA adapters; the strategy now is Full fine-tuning.")
    assert note.isHidden()

    strategy = panel.widget_for("strategy")
    with qtbot.waitSignal(panel.sig_strategy_changed):
        strategy.setCurrentIndex(strategy.findData("lora"))
    panel.set_settings(panel.settings().replace(device="cuda"))  # chosen: judged without detection
    for name in LORA_SETTINGS:
        assert panel.widget_for(name).isEnabled(), name
        assert not panel.widget_for(name).toolTip().startswith("Only for")
    assert note.isHidden()

    switch = panel.widget_for("lora_4bit")
    panel.set_settings(panel.settings().replace(device="cpu"))
    assert not switch.isEnabled() and all(panel.widget_for(n).isEnabled() for n in LORA_SETTINGS if n != "lora_4bit")
    reason = "4-bit base weights (QLoRA) need a CUDA GPU; this run trains on the CPU."
    assert switch.toolTip().startswith(reason)
    assert not note.isHidden() and note.text() == reason and note.property("role") == "hint"
    # Switched on already (a settings file): it stays clickable so that it can be turned off.
    panel.set_settings(panel.settings().replace(lora_4bit=True))
    assert switch.isEnabled() and note.property("role") == "error" and "Turn it off" in note.text()
    with qtbot.waitSignal(panel.sig_changed):
        switch.setChecked(False)
    assert not switch.isEnabled() and note.property("role") == "hint"

    with qtbot.waitSignal(panel.sig_strategy_changed):
        strategy.setCurrentIndex(strategy.findData("head"))
    assert not any(panel.widget_for(n).isEnabled() for n in LORA_SETTINGS) and note.isHidden()
    assert panel.widget_for("lora_rank").toolTip().startswith("Only for the strategy LoRA adapters; the strategy "
                                                              "now is Head only.")


def test_targets_that_adapt_nothing_are_outlined_at_once_and_refused_on_start(qtbot, page, tiny_model_dir):
    page.model_panel.choose_folder(str(tiny_model_dir))
    qtbot.waitUntil(lambda: page.model_panel.model_spec() == str(tiny_model_dir)
                    and page.layers_view.plan() is not None, timeout=WAIT_MS)
    panel = page.settings_panel
    with qtbot.waitSignal(page.layers_view.sig_plan_changed):
        panel.set_settings(panel.settings().replace(strategy="lora"))
    full = page.layers_view.plan().trainable

    with qtbot.waitSignal(page.layers_view.sig_plan_changed):  # the rank, as the user steps it
        panel.widget_for("lora_rank").setValue(4)
    assert page.layers_view.plan().adapter_params * 2 == full - page.layers_view.plan().rows[-1]["params"]

    targets = panel.widget_for("lora_targets")
    targets.setText("qury")
    with qtbot.waitSignal(page.layers_view.sig_plan_changed):
        targets.editingFinished.emit()
    problem = page.layers_view.problem()
    assert problem.startswith("lora_targets: BertForMaskedLM has no linear or embedding module named 'qury'")
    assert targets.property("invalid") is True and targets.toolTip().startswith(problem)
    assert page.current_settings() is None
    assert page.problem.text() == problem and not page.problem.isHidden()
    assert targets.property("invalid") is True  # still outlined after Start's refusal

    targets.setText("query")
    with qtbot.waitSignal(page.layers_view.sig_plan_changed):
        targets.editingFinished.emit()
    assert page.layers_view.problem() == "" and not targets.property("invalid")
    assert page.layers_view.plan().rows[1]["adapters"] == ["query"]
    assert page.gathered_settings().lora_targets == "query"


def test_lora_trains_a_few_percent_of_the_embedded_model(qtbot, page):
    qtbot.waitUntil(lambda: page.model_panel.model_info() is not None, timeout=WAIT_MS)
    page.apply_settings(TrainSettings(strategy="lora"))
    plan = page.layers_view.plan()
    assert plan.rows[1]["adapters"] == BERT_MODULES and len(plan.rows) == 8  # all-MiniLM-L6-v2: 6 layers
    assert 0.01 < plan.trainable / plan.total < 0.05
    assert f"({plan.trainable / plan.total:.1%})" in page.layers_view.summary_text()
