"""The Train tab's progress rows: the state badge, steps done of the total, epoch, speed, elapsed
time and ETA, below them the current phase (loading, tokenizing, evaluating) with its own bar, and
a note on what the run does when the run says more than its plan (pre-training: its objective,
what happens to the language-model head, and which checkpoint counts as best).

Steps arrive many times a second while training. QProgressBar.setValue repaints synchronously
(milliseconds on the GUI thread, holding the GIL the training thread needs), so the newest step
is shown at most every PROGRESS_MS.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from ftstudio.gui.state_badge import StateBadge
from ftstudio.gui.style import set_role
from ftstudio.gui.train.task_metrics import best_text

PROGRESS_MS = 200  # the progress row shows the newest step at most 5 times a second


class RunProgress(QWidget):
    """Badge, step progress and phase progress of the run the Train tab shows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._epochs = 0
        self._latest_step: dict | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PROGRESS_MS)
        self._timer.timeout.connect(self.apply_latest_step)

        self.badge = StateBadge()
        self.badge.setMinimumWidth(110)
        self.bar = QProgressBar()
        self.bar.setFormat("step %v / %m")
        self.epoch_label, self.speed_label, self.elapsed_label, self.eta_label = (QLabel() for _ in range(4))
        steps_row = QHBoxLayout()
        steps_row.addWidget(self.badge)
        steps_row.addWidget(self.bar, 1)
        for label in (self.epoch_label, self.speed_label, self.elapsed_label, self.eta_label):
            label.setMinimumWidth(90)
            steps_row.addWidget(label)

        self.phase_label = QLabel()
        self.phase_bar = QProgressBar()
        self.phase_bar.setMaximumHeight(12)
        self.phase_bar.setTextVisible(False)
        self._phase_row = QWidget()
        phase_row = QHBoxLayout(self._phase_row)
        phase_row.setContentsMargins(0, 0, 0, 0)
        phase_row.addWidget(self.phase_label)
        phase_row.addWidget(self.phase_bar, 1)
        # Shown and hidden at every evaluation: keeping its place stops the plots below from being
        # resized, re-laid out and fully repainted each time (a stall of the UI thread).
        policy = self._phase_row.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self._phase_row.setSizePolicy(policy)

        self.note = QLabel()
        self.note.setObjectName("runNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.note, "hint")
        self.note.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(steps_row)
        layout.addWidget(self.note)
        layout.addWidget(self._phase_row)
        self.reset()

    def reset(self) -> None:
        """Nothing run yet: empty bar, dashes for the figures, no phase."""
        self._timer.stop()
        self._latest_step = None
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.epoch_label.setText("epoch —")
        self.speed_label.setText("— samples/s")
        self.elapsed_label.setText("elapsed —")
        self.eta_label.setText("ETA —")
        self.set_note("")
        self.hide_phase()

    def set_note(self, text: str) -> None:
        """The line on what the run does ("" hides it)."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_plan(self, total_steps: int, epochs: int, done_steps: int | None = None) -> None:
        """What the run will do (the engine's info event), and how much a resumed run has done."""
        self._epochs = epochs
        self.bar.setRange(0, max(total_steps, 1))
        if done_steps is not None:
            self.bar.setValue(done_steps)

    def add_step(self, event: dict) -> None:
        """A training step's event; shown now when hidden (no repaint), else within PROGRESS_MS."""
        self._latest_step = event
        if not self.isVisible():
            self.apply_latest_step()
        elif not self._timer.isActive():
            self._timer.start()

    @Slot()
    def apply_latest_step(self) -> None:
        """Show the newest step now (also when the run ends, so the bar reaches its end)."""
        self._timer.stop()
        event, self._latest_step = self._latest_step, None
        if event is None:
            return
        total = int(event.get("total_steps") or 0)
        if total and self.bar.maximum() != total:
            self.bar.setRange(0, total)
        self.bar.setValue(int(event.get("step") or 0))
        epochs = f" / {self._epochs}" if self._epochs else ""
        self.epoch_label.setText(f"epoch {float(event.get('epoch') or 0):.2f}{epochs}")
        self.speed_label.setText(f"{float(event.get('samples_per_second') or 0):,.1f} samples/s")
        self.elapsed_label.setText(f"elapsed {hms(event.get('elapsed'))}")
        self.eta_label.setText(f"ETA {hms(event.get('eta'))}")

    def show_phase(self, phase: str, done: int, total: int) -> None:
        """A phase's progress (total 0: of unknown length); the row hides once done reaches total."""
        self.phase_label.setText(f"{phase.capitalize()}: {done:,} / {total:,}" if total else phase.capitalize())
        self.phase_bar.setRange(0, max(total, 0))
        self.phase_bar.setValue(min(done, total) if total else 0)
        self._phase_row.setVisible(not total or done < total)

    def hide_phase(self) -> None:
        self._phase_row.setVisible(False)

    def stop(self) -> None:
        """Stop the throttle timer (the window is closing)."""
        self._timer.stop()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.apply_latest_step()  # hidden widgets do not repaint: cheap to apply now
        super().hideEvent(event)


def hms(seconds: Any) -> str:
    """12:34 or 1:02:03; a dash when the value is missing."""
    try:
        total = max(0, int(round(float(seconds))))
    except (TypeError, ValueError):
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def run_note(info: dict) -> str:
    """What a run's info event says beyond its plan, one line each: a pre-training run's objective
    (objective_line), what happens to its head (head_note) and its best checkpoint's metric with
    its direction; "" for a run whose info has no objective (every fine-tuning run)."""
    lines = [str(info[key]) for key in ("objective_line", "head_note") if info.get(key)]
    if lines and info.get("best_metric"):
        lines.append(f"Best checkpoint by {best_text(str(info['best_metric']))}.")
    return "\n".join(lines)


def group_facts(info: dict) -> str:
    """How a run on several processes is spread, from its info event's world size and global
    batch: "2 processes · global batch 32"; "" for a run on one process."""
    try:
        processes = int(info.get("processes") or 1)
    except (TypeError, ValueError):
        return ""
    if processes < 2:
        return ""
    batch = info.get("global_batch")
    return f"{processes} processes · global batch {int(batch):,}" if batch else f"{processes} processes"
