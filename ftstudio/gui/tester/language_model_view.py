"""The tester for a pre-training run: what the language model predicts, before and after.

For an encoder the user types a sentence with the mask token (or selects a word and presses
"Mask selected word") and sees the likeliest words for each mask; for a decoder, the greedy
continuation of the text and the next token's probabilities. Two columns side by side: the run's
base model ("Before pre-training") and the picked checkpoint ("After"). Both models load and
answer in the tester's prediction thread (`PredictService.language`); this view only asks and
shows.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.predict.language_checkpoints import (
    GENERIC_MASK,
    has_mask,
    mask_words,
    model_display_name,
)
from ftstudio.gui.style import muted_color
from ftstudio.gui.tester.language_model_column import LanguageModelColumn
from ftstudio.gui.tester.perplexity_row import PerplexityRow
from ftstudio.gui.tester.prediction_column import side_by_side

TYPING_PAUSE_MS = 350
MASKED_EXAMPLES = ("The flight was [MASK] and the crew was friendly.", "Paris is the [MASK] of France.")
CAUSAL_EXAMPLES = ("The flight was", "Thank you for")
SLOTS = {"before": "lm-before", "after": "lm-after"}
NO_BASE = ("No base model is known for this checkpoint (it was not saved by a pre-training run here), "
           "so there is nothing to compare with.")


def no_head_message(base: str, objective: str) -> str:
    """The before column's words for a base model saved without the head the objective needs."""
    if objective == "masked":
        return (f"{base} has no masked-language-modelling head (it was saved without one), so it cannot fill "
                "masks before pre-training: its guesses would come from a random head. Pre-training trained a "
                "new head; the After column shows what it learned.")
    return (f"{base} has no language-modelling head (it was saved without one), so it cannot continue text "
            "before pre-training: its tokens would come from a random head. The After column shows the "
            "trained head.")


class LanguageModelView(QWidget):
    """Text box, hint, "Mask selected word" (encoders) and the before/after columns.

    Signals:
      sig_shown(object): a column shows an answer: {"slot": "before"|"after", "objective", "text",
        and "masks" (encoder) or "continuation" and "next_tokens" (decoder), or "head_is_new": True
        with no answer (the before column then says the base model cannot predict yet)}.
      sig_failed(object): a column shows an error: {"slot", "message"}.
    """

    sig_shown = Signal(object)
    sig_failed = Signal(object)

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.objective = "masked"
        self.mask_token = GENERIC_MASK
        self._models: dict[str, tuple[str, dict] | None] = {"before": None, "after": None}
        self._base_name = ""
        self._selection: tuple[int, int] | None = None
        self._typing = QTimer(self)
        self._typing.setObjectName("tester-lm-typing-pause")
        self._typing.setSingleShot(True)
        self._typing.setInterval(TYPING_PAUSE_MS)
        self._typing.timeout.connect(self._on_typing_paused)
        self._build()
        service.sig_busy.connect(self._on_busy)
        service.sig_result.connect(self._on_result)
        service.sig_failed.connect(self._on_failed)

    def _build(self) -> None:
        self.text = QLineEdit()
        self.text.setClearButtonEnabled(True)
        self.text.returnPressed.connect(self.predict_now)
        self.text.textEdited.connect(self._on_edited)
        self.text.selectionChanged.connect(self._on_selection)
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(self.predict_now)
        self.mask_button = QPushButton("Mask selected word")
        # No focus: a click must not take the focus from the text box, which drops its selection.
        self.mask_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mask_button.setToolTip("Replace the selected word (double-click one) with the mask token")
        self.mask_button.clicked.connect(self.mask_selection)
        row = QHBoxLayout()
        row.addWidget(self.text, 1)
        row.addWidget(self.mask_button)
        row.addWidget(self.predict_button)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.linkActivated.connect(self._on_example)
        self.before = LanguageModelColumn("Before pre-training")
        self.after = LanguageModelColumn("After")
        scroll = side_by_side(self.before, self.after)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.hint)
        layout.addWidget(scroll, 1)
        self.file_row = PerplexityRow(self.service)
        layout.addWidget(self.file_row)
        self._show_hint()

    # ------------------------------------------------------------------ public
    def use_checkpoint(self, path: str, title: str) -> bool:
        """Compare `path` with its run's base model if it is a language-model checkpoint (read
        from its files); False (and nothing pending) for any other model."""
        from ftstudio.engine.predict.language_checkpoints import (
            base_had_head,
            checkpoint_base_model,
            checkpoint_objective,
            saved_mask_token,
        )

        objective = checkpoint_objective(path) if path else None
        if objective is None:
            self.shutdown()
            self._models = {"before": None, "after": None}
            return False
        self.set_models(path, title, objective, checkpoint_base_model(path), saved_mask_token(path),
                        base_had_head(path))
        return True

    def set_models(self, after: str, after_title: str, objective: str, base: str | None,
                   mask_token: str | None = None, base_has_head: bool | None = None) -> None:
        """Compare the checkpoint `after` (shown as `after_title`) with the run's `base` model
        spec (None: unknown), both read as `objective` ("masked" or "causal"). A base the run
        recorded as headless (`base_has_head` False) is not loaded: it has nothing to show."""
        before = (base, {"base": True, "objective": objective, "has_head": base_has_head}) if base else None
        models = {"after": (after, {}), "before": before}
        changed = models != self._models or objective != self.objective
        self._models, self.objective = models, objective
        self.file_row.set_models(models)
        self.mask_token = mask_token or GENERIC_MASK
        self._base_name = model_display_name(base) if base else ""
        self.before.set_title(f"Before pre-training ({self._base_name})" if base else "Before pre-training")
        # The picker's entry without its metrics: "This run · best (step 40, perplexity 9.1)".
        self.after.set_title(f"After pre-training ({after_title.split(' (')[0]})")
        self.mask_button.setVisible(objective == "masked")
        self._show_hint()
        if changed:
            self.before.clear()
            self.after.clear()
            text = self.text.text().strip()
            # Load both models now; answer the box's text only if this model can read it (a
            # decoder's prompt left in the box has no mask: no need to greet with an error).
            self._ask(text if text and self._answerable(text) else None)

    def predict_now(self) -> None:
        """Ask both models about the box's text."""
        self._typing.stop()
        text = self.text.text().strip()
        if text:
            self._ask(text)

    def try_text(self, text: str) -> None:
        self.text.setText(text)
        self.predict_now()

    @Slot()
    def mask_selection(self) -> None:
        """Replace the selected word(s) with the mask token and predict."""
        from ftstudio.engine.errors import DatasetError

        start, length = self.text.selectionStart(), len(self.text.selectedText())
        span = (start, start + length) if start >= 0 and length else self._selection
        try:
            if span is None:
                raise DatasetError("Select a word in the text first (double-click it), then mask it.")
            masked = mask_words(self.text.text(), span[0], span[1], self.mask_token)
        except DatasetError as exc:
            self.after.show_idle(str(exc))
            return
        self._selection = None
        self.text.setText(masked)
        self.text.setCursorPosition(span[0] + len(self.mask_token))
        self.predict_now()

    def shutdown(self) -> None:
        self._typing.stop()
        self.file_row.cancel()
        for slot in SLOTS.values():
            self.service.cancel(slot)

    # ------------------------------------------------------------------ requests
    def _ask(self, text: str | None) -> None:
        """Send the text (None: just load, to learn the mask token and whether the base model
        has a head) to each known model; the before column explains when there is none."""
        for name, column in (("before", self.before), ("after", self.after)):
            model = self._models.get(name)
            if model is None:
                self.service.cancel(SLOTS[name])
                column.show_note(NO_BASE)
                continue
            if model[1].get("has_head") is False:
                self.service.cancel(SLOTS[name])
                self._show_no_head(column, text)
                continue
            options = {k: v for k, v in model[1].items() if k != "has_head"}
            self.service.language(SLOTS[name], model[0], text, **options)

    def _answerable(self, text: str) -> bool:
        return self.objective != "masked" or has_mask(text, self.mask_token)

    def _show_hint(self) -> None:
        examples = MASKED_EXAMPLES if self.objective == "masked" else CAUSAL_EXAMPLES
        shown = [e.replace(GENERIC_MASK, self.mask_token) for e in examples]
        links = " &nbsp;·&nbsp; ".join(f'<a href="{i}">{html.escape(t)}</a>' for i, t in enumerate(shown))
        if self.objective == "masked":
            token = html.escape(self.mask_token)
            text = (f"Type <b>{token}</b> where the model should guess a word, or select a word and press "
                    "“Mask selected word”.")
            self.text.setPlaceholderText(f"A sentence with {self.mask_token} in it, then Enter")
        else:
            text = ("Type the beginning of a text: the model continues it (greedily, so the same text always "
                    "gets the same continuation) and shows its likeliest next tokens.")
            self.text.setPlaceholderText("The beginning of a text, then Enter")
        self.hint.setText(f'<span style="color: {muted_color()}">{text}</span><br>'
                          f'<span style="color: {muted_color()}">Try:</span> &nbsp;{links}')

    def _show_no_head(self, column: LanguageModelColumn, text: str | None) -> None:
        column.show_note(no_head_message(self._base_name or "The base model", self.objective))
        self.sig_shown.emit({"slot": "before" if column is self.before else "after", "objective": self.objective,
                             "text": text, "head_is_new": True})

    def _column(self, slot: str) -> tuple[str, LanguageModelColumn] | None:
        for name, value in SLOTS.items():
            if value == slot:
                return name, self.before if name == "before" else self.after
        return None

    # ------------------------------------------------------------------ slots
    @Slot()
    def _on_edited(self) -> None:
        self._selection = None
        if self.text.text().strip():
            self._typing.start()
        else:
            self._typing.stop()

    @Slot()
    def _on_typing_paused(self) -> None:
        """Predict once typing pauses, but only a text with a mask: half a sentence typed before
        the mask is not an error yet (Enter on it says what is missing)."""
        if self._answerable(self.text.text()):
            self.predict_now()

    @Slot()
    def _on_selection(self) -> None:
        # Kept while the box still shows it: some styles drop the selection when focus moves.
        if self.text.hasSelectedText():
            start = self.text.selectionStart()
            self._selection = (start, start + len(self.text.selectedText()))

    @Slot(str)
    def _on_example(self, link: str) -> None:
        examples = MASKED_EXAMPLES if self.objective == "masked" else CAUSAL_EXAMPLES
        self.try_text(examples[int(link)].replace(GENERIC_MASK, self.mask_token))

    @Slot(object)
    def _on_busy(self, info: dict) -> None:
        found = self._column(info["slot"])
        if found is not None:
            found[1].show_busy(info["stage"], base=found[0] == "before")

    @Slot(object)
    def _on_result(self, info: dict) -> None:
        found = self._column(info["slot"])
        if found is None:
            return
        name, column = found
        if name == "after" and info.get("mask_token") and info["mask_token"] != self.mask_token:
            self.mask_token = info["mask_token"]  # the tokenizer's own, once it has loaded
            self._show_hint()
        if info.get("head_is_new"):
            self._show_no_head(column, info.get("text"))
            return
        if info.get("text") is None:
            column.show_idle(f"Type a sentence with {self.mask_token} and press Enter." if self.objective == "masked"
                             else "Type the beginning of a text and press Enter.")
            return
        if "masks" in info:
            column.show_masks(info["masks"])
        else:
            column.show_continuation(str(info["text"]), info.get("continuation", ""), info.get("next_tokens") or [])
        self.sig_shown.emit({"slot": name, **{k: v for k, v in info.items() if k not in ("id", "kind", "slot")}})

    @Slot(object)
    def _on_failed(self, info: dict) -> None:
        found = self._column(info["slot"])
        if found is not None:
            found[1].show_error(info["message"])
            self.sig_failed.emit({"slot": found[0], "message": info["message"]})
