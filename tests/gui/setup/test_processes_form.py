"""Setup's Hardware group and several processes: the count is judged against the machine (inline,
in the engine's words, before Start), the machine's GPUs or cores are named, the global batch is
shown live, and the settings of several processes appear only when there are several."""

from __future__ import annotations

import os

import pytest

from ftstudio.engine.settings import TrainSettings

pytest.importorskip("pytestqt")

WAIT_MS = 60000

GIB = 1024**3
TWO_GPUS = {  # what describe_devices() says on a machine with two CUDA GPUs and a 16-core CPU
    "devices": [{"kind": "cuda", "index": i, "name": "NVIDIA H100", "total_memory": 80 * GIB, "bf16": True,
                 "label": f"CUDA {i}: NVIDIA H100 (80.0 GiB)"} for i in (0, 1)]
    + [{"kind": "cpu", "index": 0, "name": "x86_64", "total_memory": 64 * GIB, "bf16": True, "cores": 16,
        "label": "CPU (16 cores, 64.0 GiB RAM)"}],
    "auto_device": "cuda", "auto_precision": "bf16", "precision_problems": {},
}
APPLE = {
    "devices": [{"kind": "mps", "index": 0, "name": "Apple GPU (MPS)", "total_memory": 16 * GIB, "bf16": True,
                 "label": "Apple GPU (MPS)"},
                {"kind": "cpu", "index": 0, "name": "arm", "total_memory": 16 * GIB, "bf16": True, "cores": 8,
                 "label": "CPU (8 cores, 16.0 GiB RAM)"}],
    "auto_device": "mps", "auto_precision": "fp32", "precision_problems": {},
}


@pytest.fixture
def form(qtbot):
    """The settings form once this machine's devices are detected."""
    from ftstudio.gui.setup.settings_panel import SettingsPanel

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel._hardware.summary.text().startswith("Detected:"), timeout=WAIT_MS)
    yield panel
    panel.shutdown()


def _show(form, **changes) -> None:
    form.set_settings(TrainSettings(**{"batch_size": 16, **changes}))


def _row_shown(form, name: str) -> bool:
    _box, layout = form._rows[name]
    return layout.isRowVisible(form.widget_for(name))


def test_the_settings_of_several_processes_show_only_for_several(form):
    _show(form)
    assert not _row_shown(form, "sharding") and not _row_shown(form, "collective_timeout")
    assert form._effective.text() == "Effective batch: 16 texts per step"

    form.widget_for("processes").setValue(2)  # as the user does: the rows and notes follow at once
    assert _row_shown(form, "sharding") and _row_shown(form, "collective_timeout")
    assert form._effective.text() == "Global batch: 32 texts per step (16 on each of 2 processes x 1 accumulation)"
    form.widget_for("grad_accum").setValue(2)
    assert form._effective.text().startswith("Global batch: 64 texts per step")
    assert form._processes_note.text().startswith("Global batch 64 = batch 16 on each of 2 processes x 2 accumulation.")
    assert form.settings().effective_batch_size() == 64

    _show(form, processes=1, sharding="fsdp")  # kept in sight while it asks for what one process cannot do
    assert _row_shown(form, "sharding") and not _row_shown(form, "collective_timeout")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_on_this_cpu_the_count_is_judged_against_its_cores(form):
    cores = os.cpu_count()
    _show(form, device="cpu", processes=2)
    tip = form.widget_for("processes").toolTip()
    assert tip.startswith(f"This machine: CPU, {cores} cores; several processes on a CPU are for testing a "
                          "multi-GPU setup.")
    assert "batch_size is per process" in tip  # the declaration's help follows
    assert form.hardware_problem() == ""
    assert "several processes are for testing a multi-GPU setup" in form._processes_note.text()

    form.widget_for("processes").setValue(cores + 1)
    problem = form.hardware_problem()
    assert problem == (f"processes: {cores + 1} processes on a CPU with {cores} cores would only wait on each other; "
                       f"use at most {cores}.")
    summary = form._hardware.summary
    assert summary.text() == problem and summary.property("role") == "error"
    form.widget_for("processes").setValue(cores)
    assert form.hardware_problem() == "" and summary.text().startswith("Detected:")


def test_fsdp_on_one_process_is_refused_inline(form):
    _show(form, processes=1, sharding="fsdp", device="cpu")
    assert form.hardware_problem() == ("sharding: FSDP shards the model across processes; set processes to 2 or more, "
                                       "or sharding to none.")
    form.widget_for("processes").setValue(2)
    assert form.hardware_problem() == ""


def test_on_a_machine_with_two_gpus_one_process_each(form):
    form._hardware._on_detected(TWO_GPUS)
    _show(form, processes=2)
    assert form.widget_for("processes").toolTip().startswith("This machine: 2 CUDA GPUs, one process each.")
    assert form.hardware_problem() == ""
    assert "One GPU each (2 CUDA GPUs here)." in form._processes_note.text()
    _show(form, processes=3)
    assert form.hardware_problem() == ("processes: 3 processes need 3 GPUs (one each); this machine has 2. "
                                       "Set processes to 2 or less.")
    _show(form, processes=3, device="cpu")  # the CPU's 16 cores take 3 processes
    assert form.hardware_problem() == ""
    assert form.widget_for("processes").toolTip().startswith("This machine: CPU, 16 cores;")


def test_apple_gpus_train_in_one_process(form):
    form._hardware._on_detected(APPLE)
    _show(form, processes=2)  # device Automatic: the Apple GPU
    assert form.hardware_problem() == ("processes: Apple GPUs (MPS) train in one process; set processes to 1 "
                                       "or device to CPU.")
    _show(form, processes=2, device="cpu")
    assert form.hardware_problem() == ""


def test_setup_names_and_outlines_the_setting_at_fault(qtbot, page):
    qtbot.waitUntil(lambda: page.settings_panel._hardware.summary.text().startswith("Detected:"), timeout=WAIT_MS)
    page.settings_panel.set_settings(TrainSettings(processes=1, sharding="fsdp"))
    assert page.current_settings() is None
    assert page.problem.text().startswith("sharding: FSDP shards the model across processes")
    assert page.settings_panel.widget_for("sharding").property("invalid") is True
    page.settings_panel.set_settings(TrainSettings(processes=(os.cpu_count() or 1) + 1, device="cpu"))
    assert page.current_settings() is None
    assert page.problem.text().startswith("processes: ")
    assert page.settings_panel.widget_for("processes").property("invalid") is True
