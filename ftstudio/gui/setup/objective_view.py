"""What continued pre-training will do with the chosen model, shown in the Model panel while the
task is pre-training: the objective (masked-language modelling for an encoder, with its masking;
next-token prediction for a decoder) and what happens to the language-model head (kept, or a
fresh one trained from random weights). A model that cannot pre-train (sequence-to-sequence, no
language-model head class) gets the engine's reason in red, and the Setup page refuses Start
with it.

The engine decides all of it (`engine.models.objectives.pretraining_plan`) from config.json; the
plan is read on the background runner, because it consults transformers' tables of model
classes and the window must not import transformers on its UI thread. The masking settings
only reword the line, so editing them redraws without asking again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ftstudio.engine.errors import user_message
from ftstudio.gui.background import BackgroundRunner, BackgroundTask
from ftstudio.gui.style import set_role


class ObjectiveView(QWidget):
    """The objective and head lines of continued pre-training (hidden for the other tasks).

    `set_model(spec)` follows the Model panel (None while a model is being read or unusable),
    `set_pretraining(on)` the task and `set_masking(...)` the two masking settings; the page
    asks `error()` when Start is pressed.

    Signals:
      sig_objective(object): the objective shown ("masked", "causal"), or None (not pre-training,
        being read, or refused); the masking settings apply to "masked" only.
    """

    sig_objective = Signal(object)

    def __init__(self, runner: BackgroundRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._spec: str | None = None
        self._on = False
        self._masking: tuple[float, bool] = (0.15, False)
        self._task: BackgroundTask | None = None
        self._read: tuple[str, Any] | None = None  # (spec, PretrainingPlan or the error's message)
        self._objective: str | None = None  # as last signalled
        self.objective = QLabel()
        self.objective.setObjectName("modelObjective")
        self.head = QLabel()
        self.head.setObjectName("modelHeadNote")
        for label in (self.objective, self.head):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.head, "hint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.objective)
        layout.addWidget(self.head)
        self._show()

    # ------------------------------------------------------------------ public
    def set_model(self, spec: str | None) -> None:
        """The model chosen and read (None: being read, or unusable: nothing to say yet)."""
        if spec == self._spec:
            return
        self._spec = spec
        self._refresh()

    def set_pretraining(self, on: bool) -> None:
        """Whether the task is continued pre-training: the lines are shown, and read, only then."""
        if on != self._on:
            self._on = on
            self._refresh()

    def set_masking(self, mlm_probability: float, whole_word_masking: bool) -> None:
        """The masking settings, as the objective line words them."""
        masking = (float(mlm_probability), bool(whole_word_masking))
        if masking != self._masking:
            self._masking = masking
            self._show()

    def plan(self) -> Any:
        """The PretrainingPlan of the model shown (None: not pre-training, being read, or refused)."""
        read = self._current()
        return read if read is not None and not isinstance(read, str) else None

    def error(self) -> str:
        """Why the model cannot continue pre-training ("" when it can, or the task is another)."""
        read = self._current()
        return read if self._on and isinstance(read, str) else ""

    def is_busy(self) -> bool:
        return self._task is not None

    def text(self) -> str:
        """The lines shown, for tests and the page's problem line."""
        return "\n".join(label.text() for label in (self.objective, self.head) if label.text())

    def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # ------------------------------------------------------------------ reading
    def _current(self) -> Any:
        return self._read[1] if self._read is not None and self._read[0] == self._spec else None

    def _refresh(self) -> None:
        """Read the plan of the model shown, unless it is known already or not wanted."""
        if self._on and self._spec is not None and (self._read is None or self._read[0] != self._spec):
            if self._task is not None:
                self._task.cancel()
            self._task = self._runner.submit(read_plan, self._spec, name="pretraining-plan",
                                             on_result=self._on_read, on_error=self._on_failed)
        self._show()

    @Slot(object)
    def _on_read(self, result: tuple[str, Any]) -> None:
        self._task = None
        self._read = result
        self._show()

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self._task = None
        self._read = (self._spec or "", user_message(exc, "Cannot read the model"))
        self._show()

    def _show(self) -> None:
        read = self._current() if self._on else None
        objective = None if read is None or isinstance(read, str) else read.objective
        if objective != self._objective:
            self._objective = objective
            self.sig_objective.emit(objective)
        self.setVisible(self._on and self._spec is not None)
        if isinstance(read, str):
            self.objective.setText(f"Cannot continue pre-training: {read}")
            set_role(self.objective, "error")
            self.head.setText("")
        elif read is not None:
            self.objective.setText(read.describe(*self._masking))
            set_role(self.objective, "")
            self.head.setText(read.head_note())
        else:
            self.objective.setText("Reading which pre-training objective the model continues with..." if self._on
                                   else "")
            set_role(self.objective, "busy")
            self.head.setText("")
        self.head.setVisible(bool(self.head.text()))


# ------------------------------------------------------------------ off the UI thread
def read_plan(spec: str) -> tuple[str, Any]:
    """(spec, the engine's PretrainingPlan for the model `spec` names, or why it cannot pre-train)."""
    from ftstudio.engine.errors import ModelError
    from ftstudio.gui.heavy_imports import import_transformers

    import_transformers()  # the plan consults transformers' model tables: never beside datasets work
    from ftstudio.engine.models.objectives import pretraining_plan
    from ftstudio.engine.models.sources import resolve_model_source

    source = resolve_model_source(spec, allow_pickle=True)
    try:
        # Named as the engine names it in the run's log (source.display), so both lines read alike.
        return spec, pretraining_plan(_config(source), source.display)
    except ModelError as exc:  # the model is fine, only not for pre-training: said inline, not raised
        return spec, str(exc)


def _config(source: Any) -> dict[str, Any]:
    from ftstudio.engine.models.files import read_config

    if source.is_local:
        return read_config(Path(source.ref))
    from ftstudio.engine.models.download import hub_call, hub_config

    repo_id = source.repo_id or source.ref
    return hub_call(repo_id, lambda: hub_config(repo_id))

