"""The device and precision choices, labelled with what this machine has, and whether the number
of training processes (and FSDP sharding) fits it.

`describe_devices()` imports torch (seconds of CPU), so detection runs on the background runner
once the window is up; until it answers the combos show plain names and only the rules that need
no hardware (FSDP on one process) are checked.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QSpinBox

from ftstudio.engine.errors import first_line
from ftstudio.engine.settings import setting_spec
from ftstudio.gui.background import BackgroundRunner, BackgroundTask
from ftstudio.gui.setup.setting_editors import select_data
from ftstudio.gui.style import set_role

# How each choice reads before detection; the choices themselves are the settings' declared ones.
DEVICE_LABELS = {"auto": "Automatic", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)", "cpu": "CPU"}
PRECISION_LABELS = {"auto": "Automatic", "fp32": "fp32 (full precision)", "bf16": "bf16 (mixed precision)",
                    "fp16": "fp16 (mixed, with loss scaling)"}


def labelled_choices(name: str) -> list[tuple[str, str]]:
    """(value, label) for each declared choice of `device` or `precision`."""
    labels = DEVICE_LABELS if name == "device" else PRECISION_LABELS
    return [(value, labels.get(value, value)) for value in setting_spec(name).choices]


class HardwareChoice(QObject):
    """The device and precision combos (`device`, `precision`) and a `summary` label, for a form;
    the form's `processes` spin box and `sharding` combo are adopted (`adopt`) so that the summary
    and `problem()` judge them against the machine too.

    Signals:
      sig_changed(str name): "device" or "precision" was picked.
      sig_detected(): the machine's devices are known (capacity() and remark() now say them).
    """

    sig_changed = Signal(str)
    sig_detected = Signal()

    def __init__(self, runner: BackgroundRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.device, self.precision = QComboBox(), QComboBox()
        for combo, name in ((self.device, "device"), (self.precision, "precision")):
            for value, text in labelled_choices(name):
                combo.addItem(text, value)
            combo.currentIndexChanged.connect(lambda _i, n=name: self._on_changed(n))
        self._detected_text = "Detecting devices..."  # what the summary says while nothing is wrong
        self.summary = QLabel(self._detected_text)
        self.summary.setWordWrap(True)
        self.summary.setObjectName("hardwareSummary")
        set_role(self.summary, "hint")
        self._kinds: set[str] = set()
        self._auto_device = ""
        # {device kind: {precision: why it cannot train there}}, from the engine's own rules.
        self._precision_problems: dict[str, dict[str, str]] = {}
        self._gpus = self._cores = 0  # CUDA GPUs and CPU cores, once detected
        self._processes: QSpinBox | None = None
        self._sharding: QComboBox | None = None
        self._processes_tip = ""  # the declaration's tooltip, under what this machine has
        self._runner = runner
        self._task: BackgroundTask | None = None
        # Detection imports torch (seconds of CPU): start it once the window is up.
        QTimer.singleShot(0, self._start)

    def _start(self) -> None:
        if self._task is None:
            self._task = self._runner.submit(_detect_hardware, on_result=self._on_detected,
                                             on_error=self._on_detect_failed, name="describe-devices")

    def value(self, name: str) -> str:
        return (self.device if name == "device" else self.precision).currentData()

    def set_value(self, name: str, value: str) -> None:
        select_data(self.device if name == "device" else self.precision, value)

    def device_kind(self) -> str:
        """The kind of device a run would train on (cuda, mps, cpu): the one chosen, or what
        Automatic picks here ("" until detection answers)."""
        device = self.value("device")
        return self._auto_device if device == "auto" else device

    def adopt(self, processes: QSpinBox | None = None, sharding: QComboBox | None = None) -> None:
        """Judge the form's processes spin box and sharding combo with the device: the summary
        follows their edits, and the spin box's tooltip says what this machine has."""
        if processes is not None:
            self._processes, self._processes_tip = processes, processes.toolTip()
            processes.valueChanged.connect(lambda _v: self._show_summary())
            self._show_capacity()
        if sharding is not None:
            self._sharding = sharding
            sharding.currentIndexChanged.connect(lambda _i: self._show_summary())

    def problem(self) -> str:
        """Why the chosen device, precision, processes or sharding cannot be used here ("" when
        they can; before detection has answered, only what needs no hardware is judged)."""
        device = self.value("device")
        if self._kinds and device != "auto" and device not in self._kinds:
            return (f"device: {device} is not available on this machine "
                    f"(found: {', '.join(sorted(self._kinds))}). Choose Automatic or one of those.")
        kind = self._auto_device if device == "auto" else device
        return (self._precision_problems.get(kind, {}).get(self.value("precision"), "")
                or self._processes_problem(kind))

    def _processes_problem(self, kind: str) -> str:
        """The engine's refusals of a process count (engine/distributed/capacity.py), said before Start."""
        from ftstudio.engine.distributed.capacity import processes_problem, sharding_needs_processes

        processes = self._processes.value() if self._processes is not None else 1
        sharding = self._sharding.currentData() if self._sharding is not None else "none"
        problem = sharding_needs_processes(sharding, processes)
        if problem or not self._kinds:
            return problem
        return processes_problem(kind, processes, self._gpus, self._cores)

    def capacity(self) -> str:
        """What this machine offers several processes, for the processes tooltip ("" before
        detection): its CUDA GPUs, or its cores and what processes on a CPU are for."""
        if not self._kinds:
            return ""
        kind = self._auto_device if self.value("device") == "auto" else self.value("device")
        if kind == "cuda":
            return f"This machine: {_plural(self._gpus, 'CUDA GPU')}, one process each."
        if kind == "mps":
            return "This machine: an Apple GPU (MPS), which trains in one process."
        return (f"This machine: CPU, {_plural(self._cores, 'core')}; several processes on a CPU are for "
                "testing a multi-GPU setup.")

    def remark(self) -> str:
        """A sentence on several processes on the chosen device, for the note under the count
        ("" before detection, and where the summary already says what is wrong)."""
        kind = self._auto_device if self.value("device") == "auto" else self.value("device")
        if not self._kinds or self.problem():
            return ""
        if kind == "cpu":
            return f"On a CPU ({_plural(self._cores, 'core')} here), several processes are for testing a multi-GPU setup."
        return f"One GPU each ({_plural(self._gpus, 'CUDA GPU')} here)." if kind == "cuda" else ""

    def _show_capacity(self) -> None:
        if self._processes is not None:
            capacity = self.capacity()
            self._processes.setToolTip(f"{capacity}\n\n{self._processes_tip}" if capacity else self._processes_tip)

    def _on_changed(self, name: str) -> None:
        self._show_summary()
        self.sig_changed.emit(name)

    def _show_summary(self) -> None:
        """What was detected, or, as soon as the choice is one that cannot train here, why not
        (instead of a refusal only when Start is pressed)."""
        self._show_capacity()
        problem = self.problem()
        if problem:
            self.summary.setText(problem)
            set_role(self.summary, "error")
        else:
            self.summary.setText(self._detected_text)
            set_role(self.summary, "hint")

    def shutdown(self) -> None:
        if self._task is None:
            self._task = BackgroundTask("never-started")  # a queued start must not submit now
        self._task.cancel()

    @Slot(object)
    def _on_detected(self, found: dict[str, Any]) -> None:
        devices, auto_device, auto_precision = found["devices"], found["auto_device"], found["auto_precision"]
        self._kinds = {d["kind"] for d in devices}
        self._auto_device = auto_device
        self._gpus = sum(1 for d in devices if d["kind"] == "cuda")
        self._cores = max((int(d.get("cores") or 1) for d in devices if d["kind"] == "cpu"), default=1)
        self._precision_problems = found.get("precision_problems", {})
        first = {d["kind"]: d for d in reversed(devices)}  # the first GPU of a kind names it
        short = {kind: _short_name(d) for kind, d in first.items()}
        for index, (value, text) in enumerate(labelled_choices("device")):
            if value == "auto":
                self.device.setItemText(index, f"Automatic: {short.get(auto_device, auto_device)}")
                continue
            found_here = value in short and value != "cpu"
            self.device.setItemText(index, f"{text}: {short[value]}" if found_here
                                    else text if value in short else f"{text} (not available)")
            self.device.setItemData(index, first[value]["label"] if value in first else "not found on this machine",
                                    Qt.ItemDataRole.ToolTipRole)
        self.precision.setItemText(self.precision.findData("auto"), f"Automatic: {auto_precision} on {auto_device}")
        self._detected_text = "Detected: " + "; ".join(d["label"] for d in devices)
        self._show_summary()
        self.sig_detected.emit()

    @Slot(object)
    def _on_detect_failed(self, exc: BaseException) -> None:
        self._detected_text = f"Could not detect devices ({first_line(exc)}); Automatic will choose at start."
        self._show_summary()


def _detect_hardware() -> dict[str, Any]:
    from ftstudio.engine.errors import SettingsError
    from ftstudio.engine.models.devices import describe_devices, resolve_device, resolve_precision

    device = resolve_device("auto")
    devices = describe_devices()
    problems: dict[str, dict[str, str]] = {}
    for found in devices:
        if found["kind"] in problems:
            continue  # the first device of a kind is the one a run on that kind uses
        target = f"cuda:{found['index']}" if found["kind"] == "cuda" else found["kind"]
        problems[found["kind"]] = {}
        for precision in setting_spec("precision").choices:
            try:
                resolve_precision(precision, target)
            except SettingsError as exc:
                problems[found["kind"]][precision] = str(exc)
    return {"devices": devices, "auto_device": device.type,
            "auto_precision": resolve_precision("auto", device), "precision_problems": problems}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _short_name(device: dict[str, Any]) -> str:
    """A combo-sized name: the GPU's model, or "CPU" (details go to the tooltip and summary)."""
    if device["kind"] == "cpu":
        return "CPU"
    return str(device.get("name") or device["kind"]).replace("NVIDIA ", "")

