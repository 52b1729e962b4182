"""The training memory the planned run needs, beside what its device has: a line in the Setup
page's Hardware group, kept live as the model, the data's labels and the settings change, and a
warning above the panels when the run will not fit.

The estimate is the engine's (`models/memory.py`, no torch: cheap enough for every edit); the
device's memory is asked once per device choice on the background runner (it imports torch).
Advice only: a run that will not fit may still be started (the estimate can be wrong, and the
engine's out-of-memory retry may rescue it).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from ftstudio.engine.errors import first_line
from ftstudio.engine.models.memory import (
    DeviceMemory,
    MemoryEstimate,
    device_memory,
    estimate_training_memory,
)
from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.background import BackgroundRunner, BackgroundTask
from ftstudio.gui.style import set_role

GB = 1e9
FIX = "lower batch size, max tokens, use LoRA or gradient checkpointing"


class MemoryNote(QLabel):
    """"Training memory: about 3.1 GB (weights ..., activations ...); the GPU has 80.0 GB.",
    in the error colour with what to change when it will not fit; `warning` is the one-line
    version for the page's advice area (hidden while the run fits)."""

    def __init__(self, runner: BackgroundRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryNote")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setToolTip("An estimate from the model's shapes and these settings: float32 weights (16-bit copies "
                        "too in mixed precision), gradients and optimizer state of what trains, and the "
                        "activations of a batch of max-length texts.")
        set_role(self, "hint")
        self.warning = QLabel()
        self.warning.setObjectName("memoryWarning")
        self.warning.setWordWrap(True)
        self.warning.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.warning, "error")
        self.warning.setVisible(False)
        self._runner = runner
        self._task: BackgroundTask | None = None
        self._info: Any = None
        self._settings = TrainSettings()
        self._labels = 2
        self._device_setting: str | None = None
        self._device: DeviceMemory | None = None
        self._device_problem = ""
        self._estimate: MemoryEstimate | None = None
        self._refresh()

    # ------------------------------------------------------------------ inputs
    def set_model(self, info: Any) -> None:
        """The inspected model (ModelInfo), or None while it is read or unusable."""
        self._info = info
        self._refresh()

    def set_settings(self, settings: TrainSettings) -> None:
        """The form's settings; a new device choice asks that device's memory."""
        self._settings = settings
        if settings.device != self._device_setting:
            self._ask_device(settings.device)
        self._refresh()

    def set_num_labels(self, count: int) -> None:
        """The head's outputs for the data's task (0: pre-training's language-model head)."""
        self._labels = int(count)
        self._refresh()

    # ------------------------------------------------------------------ what it says
    def estimate(self) -> MemoryEstimate | None:
        return self._estimate

    def device(self) -> DeviceMemory | None:
        return self._device

    def will_not_fit(self) -> bool:
        """Whether the estimate is over the device's memory (False while either is unknown)."""
        known = self._estimate is not None and self._device is not None and self._device.bytes > 0
        return known and not self._estimate.fits(self._device.bytes)

    def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # ------------------------------------------------------------------ internals
    def _ask_device(self, setting: str) -> None:
        self._device_setting, self._device, self._device_problem = setting, None, ""
        if self._task is not None:
            self._task.cancel()  # an answer for the previous choice is dropped
        self._task = self._runner.submit(device_memory, setting, on_result=self._on_device,
                                         on_error=self._on_device_failed, name="device-memory")

    @Slot(object)
    def _on_device(self, found: DeviceMemory) -> None:
        self._task, self._device = None, found
        self._refresh()

    @Slot(object)
    def _on_device_failed(self, exc: BaseException) -> None:
        self._task, self._device_problem = None, first_line(exc)
        self._refresh()

    def _refresh(self) -> None:
        self._estimate = None
        if self._info is None:
            self._show("Training memory: estimated once the model has been read.", fits=True)
            return
        kind = self._device.kind if self._device is not None else None
        try:
            self._estimate = estimate_training_memory(self._info, self._settings, self._labels, device_kind=kind)
        except Exception as exc:  # noqa: BLE001 - a setting the form has not validated yet (bottom-N too deep)
            self._show(f"Training memory: not estimated ({first_line(exc)}).", fits=True)
            return
        line = f"Training memory: {self._estimate.describe()}."
        device = self._device
        if device is None:
            self._show(f"{line} {self._device_problem or 'Reading the device...'}", fits=True)
        elif device.bytes <= 0:
            self._show(f"{line} ({device.name}: its memory is unknown.)", fits=True)
        elif self.will_not_fit():
            have = f"{device.name} has {device.bytes / GB:.1f} GB ({device.what})"
            self._show(f"{line} {have}: will not fit: {FIX}.", fits=False)
            self.warning.setText(f"Memory: this run needs {self._estimate.describe().split(':')[0]} and {have}, "
                                 f"so it will not fit: {FIX}. (An estimate: Start still runs it.)")
        else:
            self._show(f"{line} {device.name} has {device.bytes / GB:.1f} GB ({device.what}).", fits=True)

    def _show(self, text: str, fits: bool) -> None:
        self.setText(text)
        set_role(self, "hint" if fits else "error")
        self.warning.setVisible(not fits)
        if fits:
            self.warning.setText("")


def place_in_group(anchor: QWidget, note: QWidget) -> None:
    """Add `note` as the last row of the form group `anchor` sits in (the Hardware group, found
    through its device editor), so the page places it without the settings form knowing."""
    box = anchor.parentWidget()
    while box is not None and not isinstance(box, QGroupBox):
        box = box.parentWidget()
    layout = box.layout() if box is not None else None
    if isinstance(layout, QFormLayout):
        layout.addRow(note)
    elif layout is not None:
        layout.addWidget(note)
