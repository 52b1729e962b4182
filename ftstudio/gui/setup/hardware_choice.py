"""The device and precision choices, labelled with what this machine has.

`describe_devices()` imports torch (seconds of CPU), so detection runs on the background runner
once the window is up; until it answers the combos show plain names.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel

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
    """The device and precision combos (`device`, `precision`) and a `summary` label, for a form.

    Signals: sig_changed(str name): "device" or "precision" was picked.
    """

    sig_changed = Signal(str)

    def __init__(self, runner: BackgroundRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.device, self.precision = QComboBox(), QComboBox()
        for combo, name in ((self.device, "device"), (self.precision, "precision")):
            for value, text in labelled_choices(name):
                combo.addItem(text, value)
            combo.currentIndexChanged.connect(lambda _i, n=name: self._on_changed(n))
        self.summary = QLabel("Detecting devices...")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("hardwareSummary")
        set_role(self.summary, "hint")
        self._kinds: set[str] = set()
        self._auto_device = ""
        self._detected_text = ""
        # {device kind: {precision: why it cannot train there}}, from the engine's own rules.
        self._precision_problems: dict[str, dict[str, str]] = {}
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

    def problem(self) -> str:
        """Why the chosen device or precision cannot be used here ("" when they can, or before
        detection has answered)."""
        device = self.value("device")
        if self._kinds and device != "auto" and device not in self._kinds:
            return (f"device: {device} is not available on this machine "
                    f"(found: {', '.join(sorted(self._kinds))}). Choose Automatic or one of those.")
        kind = self._auto_device if device == "auto" else device
        return self._precision_problems.get(kind, {}).get(self.value("precision"), "")

    def _on_changed(self, name: str) -> None:
        self._show_summary()
        self.sig_changed.emit(name)

    def _show_summary(self) -> None:
        """What was detected, or, as soon as the choice is one that cannot train here, why not
        (instead of a refusal only when Start is pressed)."""
        problem = self.problem()
        if problem:
            self.summary.setText(problem)
            set_role(self.summary, "error")
        elif self._detected_text:
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

    @Slot(object)
    def _on_detect_failed(self, exc: BaseException) -> None:
        self.summary.setText(f"Could not detect devices ({first_line(exc)}); Automatic will choose at start.")


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


def _short_name(device: dict[str, Any]) -> str:
    """A combo-sized name: the GPU's model, or "CPU" (details go to the tooltip and summary)."""
    if device["kind"] == "cpu":
        return "CPU"
    return str(device.get("name") or device["kind"]).replace("NVIDIA ", "")

