"""The data panel's choices of what to learn from the rows: the task, the text column, the second
text of a pair, the label column(s) and the separator of delimited multi-label strings.

The Task combo offers the settings' task choices (`TASKS`), each worded here. Continued
pre-training reads only the text: its label, second-text, separator and tag fields are hidden,
and a line in their place says labels are ignored.

Each choice is None until the user makes it, and the engine detects what is left None (the task
`auto` likewise); after a load the pickers show what the engine settled on. The editors sit in
the panel's own grid (`add_rows`), so their labels line up with the Source and Hub rows.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QWidget,
)

from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.settings.train_settings import TASKS
from ftstudio.gui.setup.text_summary import PRETRAIN_TASK

# How the Task combo's choices (the settings' TASKS, in their order) read.
TASK_LABELS = {
    "auto": "Automatic",
    "single-label": "Single-label classification",
    "multi-label": "Multi-label classification",
    "regression": "Regression",
    "token-classification": "Token classification",
    "pretrain": "Continued pre-training",
}
TOKEN_TASK = "token-classification"
NO_LABELS = "Pre-training reads only the text; labels are ignored"
# What Automatic found, as the narrow combo shows it: "Automatic (token-classification)" is cut off.
FOUND_SHORT = {TOKEN_TASK: "token tags"}
NO_PAIR = "(none)"
CHOICE_FIELDS = ("task", "text_column", "text_pair_column", "label_column", "label_separator", "tag_names")
LABEL_FIELDS = ("text_pair_column", "label_column", "label_separator", "tag_names")  # unread by pre-training


class DataChoices(QObject):
    """Task, text, second-text and label pickers, and the label separator field.

    Signals:
      sig_changed(): the user changed a choice; the data must be prepared again with `choices()`.
    """

    sig_changed = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._values: dict[str, Any] = dict.fromkeys(CHOICE_FIELDS)
        self._values["task"] = "auto"
        self._detected_task: str | None = None  # what Automatic turned out to be
        self._delimited: str | None = None  # the separator the engine read the labels with
        self._task_of_sample = False  # the task came with an embedded sample, not from the user
        self._columns: list[str] = []
        self._shown: tuple[str | None, ...] = (None, None, None)  # text, pair, label the pickers show
        self._build(parent)

    def _build(self, parent: QWidget) -> None:
        self.task_combo = QComboBox(parent)
        self.task_combo.setObjectName("dataTask")
        for value in TASKS:
            self.task_combo.addItem(TASK_LABELS.get(value, value), value)
        self.task_combo.setToolTip(
            "What to learn from the labels. Automatic: token classification for rows of words with a tag "
            "each (CoNLL files, tokens/tags columns), multi-label when the labels are lists, delimited "
            "strings or several 0/1 columns, else single-label. Regression learns a number per text; "
            "token classification a tag per word (named entities and the like). Continued pre-training "
            "learns from unlabeled text alone (a .txt file with one text per line, or a text column): the "
            "model's own objective on your domain's language, to fine-tune from afterwards.")
        self.task_combo.activated.connect(self._on_task_chosen)

        self.text_combo = QComboBox(parent)
        self.text_combo.setObjectName("textColumn")
        self.text_combo.setToolTip("The column holding the texts to learn from (detected automatically).")
        self.text_combo.activated.connect(lambda _i: self._on_columns_chosen())
        self.pair_combo = QComboBox(parent)
        self.pair_combo.setObjectName("textPairColumn")
        self.pair_combo.setToolTip(
            "For text pairs (premise and hypothesis, question and answer, ...): the column holding each "
            f"row's second text; the model reads both together. {NO_PAIR}: one text per row. Detected "
            "from conventional names (sentence1/sentence2, premise/hypothesis, ...).")
        self.pair_combo.activated.connect(lambda _i: self._on_columns_chosen())

        self.label_combo = QComboBox(parent)
        self.label_combo.setObjectName("labelColumn")
        self.label_combo.setEditable(True)
        self.label_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.label_combo.lineEdit().setPlaceholderText("detected")
        self.label_combo.setToolTip(
            "The column holding each text's label: a class, a list of labels (multi-label) or a number "
            "(regression). For multi-label data in several 0/1 columns, type them comma-separated "
            "(toxic,insult,threat) or tick them under the button beside.")
        self.label_combo.activated.connect(lambda _i: self._on_columns_chosen())
        self.label_combo.lineEdit().editingFinished.connect(self._on_label_typed)
        self.several = QPushButton("Several", parent)
        self.several.setObjectName("labelColumnsMenu")
        self.several.setToolTip("Multi-label data in several 0/1 columns: tick every label column, then "
                                "click outside the list.")
        self._menu = _TickMenu(self.several)
        self._menu.aboutToHide.connect(self._on_several_chosen)
        self.several.setMenu(self._menu)

        self.separator = QLineEdit(parent)
        self.separator.setObjectName("labelSeparator")
        self.separator.setPlaceholderText("detect , ; |")
        self.separator.setMaxLength(8)
        self.separator.setToolTip(
            "Multi-label labels written as one string ('billing;refund'): the separator between labels. "
            "Empty: detected among , ; | when exactly one of them fits.")
        self.separator.editingFinished.connect(self._on_separator_edited)
        self.separator_label = QLabel("Label separator")
        # Shares the separator's place: token classification has no separator, multi-label no tags.
        self.tag_names = QLineEdit(parent)
        self.tag_names.setObjectName("tagNames")
        self.tag_names.setPlaceholderText("only for numeric tags: O,B-PER,I-PER,...")
        self.tag_names.setToolTip(
            "Token classification data whose tags are numbers (0, 1, 2, ...) without names: the tag names "
            "in id order, comma-separated. Not needed for tags written as text or Hub datasets' ClassLabel tags.")
        self.tag_names.editingFinished.connect(self._on_tag_names_edited)
        self.tag_names_label = QLabel("Tag names")
        # Token classification reads a column of words and one of tags: the labels say so.
        self.text_label = QLabel("Text column")
        self.label_label = QLabel("Label column")
        self.pair_label = QLabel("Second text (pairs)")
        # Pre-training: in place of the label fields.
        self.no_labels = QLabel(NO_LABELS)
        self.no_labels.setObjectName("noLabelsNote")
        self.no_labels.setWordWrap(True)
        self.no_labels.setProperty("role", "hint")

    def add_rows(self, grid: QGridLayout, row: int) -> int:
        """Put the pickers into the panel's four-column grid from `row`; returns the next free row."""
        grid.addWidget(QLabel("Task"), row, 0)
        grid.addWidget(self.task_combo, row, 1)
        grid.addWidget(self.label_label, row, 2)
        label_row = QHBoxLayout()
        label_row.setSpacing(4)
        label_row.addWidget(self.label_combo, 1)
        label_row.addWidget(self.several)
        grid.addLayout(label_row, row, 3)
        grid.addWidget(self.no_labels, row, 2, 1, 2)
        grid.addWidget(self.text_label, row + 1, 0)
        grid.addWidget(self.text_combo, row + 1, 1)
        grid.addWidget(self.pair_label, row + 1, 2)
        grid.addWidget(self.pair_combo, row + 1, 3)
        grid.addWidget(self.separator_label, row + 2, 2)
        grid.addWidget(self.separator, row + 2, 3)
        grid.addWidget(self.tag_names_label, row + 2, 2)
        grid.addWidget(self.tag_names, row + 2, 3)
        self._show_task()
        self._show_separator()
        return row + 3

    # ------------------------------------------------------------------ public
    def choices(self) -> dict[str, Any]:
        """task, text_column, text_pair_column, label_column, label_separator, tag_names as
        TrainSettings takes them. Pre-training reads no labels and no second text: those are None
        (kept here, so choosing another task again brings them back)."""
        values = dict(self._values)
        if self.is_pretraining():
            values.update(dict.fromkeys(LABEL_FIELDS))
        return values

    def value(self, name: str) -> Any:
        return self._values[name]

    def set_choices(self, settings: TrainSettings) -> None:
        """Show the choices of `settings` (a settings file, remembered choices)."""
        self._values = {name: getattr(settings, name) or None for name in CHOICE_FIELDS}
        self._values["task"] = settings.task or "auto"
        self._detected_task, self._task_of_sample = None, False
        self._show_task()
        self.separator.setText(self._values["label_separator"] or "")
        self.tag_names.setText(self._values["tag_names"] or "")
        self._show_separator()

    def set_task(self, task: str, of_sample: bool = False) -> None:
        """Choose the task (the regression proposal; `of_sample`: an embedded sample's own task,
        given up again by `leave_sample`)."""
        self._values["task"] = task
        self._detected_task, self._task_of_sample = None, of_sample
        self._show_task()
        self._show_separator()

    def leave_sample(self) -> None:
        """Data other than the samples: a task that only came with a sample goes back to Automatic."""
        if self._task_of_sample:
            self.set_task("auto")

    def reset_columns(self, text: str | None = None, label: str | None = None, pair: str | None = None) -> None:
        """New data: these columns (None: detect), and the separator detected again."""
        self._values.update(text_column=text or None, label_column=label or None, text_pair_column=pair or None,
                            label_separator=None, tag_names=None)
        self.separator.clear()
        self.tag_names.clear()

    def is_pretraining(self) -> bool:
        """Continued pre-training is chosen: the data is read as texts alone."""
        return self._values["task"] == PRETRAIN_TASK

    def effective_task(self) -> str | None:
        """The task chosen, or the one Automatic found (None while unknown)."""
        task = self._values["task"]
        return self._detected_task if task == "auto" else task

    def show_columns(self, columns: list[str], prepared: Any, found: Any = None, tokens: bool = False) -> None:
        """Fill the pickers with the data's columns and select what the engine used (`prepared`),
        or, when the data was refused, the columns it found (`found`, DataColumns) or else the
        user's own choices; `tokens`: the refused data was read as words and tags."""
        self._columns = list(columns)
        if prepared is not None:
            found = prepared.columns
            self._detected_task = prepared.task.name
            self._delimited = prepared.task_state.get("separator") if prepared.task.name == "multi-label" else None
        else:
            self._detected_task = TOKEN_TASK if tokens else None
            self._delimited = None
        if found is not None:
            text, pair, label, labels = found.text, found.text_pair, found.label, list(found.labels)
        else:
            text, pair, label = (self._values[n] for n in ("text_column", "text_pair_column", "label_column"))
            labels = [part for part in (label or "").split(",") if part]
        self._shown = (text or None, pair or None, label or None)
        for combo, current in ((self.text_combo, text), (self.label_combo, label)):
            combo.clear()
            combo.addItems(columns)
            combo.setCurrentIndex(columns.index(current) if current in columns else -1)
        if label and label not in columns:
            self.label_combo.setEditText(label)  # several columns: 'a,b,c'
        self.pair_combo.clear()
        self.pair_combo.addItem(NO_PAIR, "")
        for column in columns:
            self.pair_combo.addItem(column, column)
        self.pair_combo.setCurrentIndex(max(0, self.pair_combo.findData(pair or "")))
        self._menu.clear()
        for column in columns:
            action = self._menu.addAction(column)
            action.setCheckable(True)
            action.setChecked(column in labels)
        self.several.setEnabled(bool(columns))
        self._show_task()
        self._show_separator()

    def clear_columns(self) -> None:
        self._columns, self._shown = [], (None, None, None)
        self._detected_task = self._delimited = None
        for combo in (self.text_combo, self.pair_combo, self.label_combo):
            combo.clear()
        self._menu.clear()
        self.several.setEnabled(False)
        self._show_task()
        self._show_separator()

    # ------------------------------------------------------------------ showing
    def _show_task(self) -> None:
        found = self._detected_task
        shown = FOUND_SHORT.get(found, found) if found else None
        self.task_combo.setItemText(0, f"{TASK_LABELS['auto']} ({shown})" if shown else TASK_LABELS["auto"])
        self.task_combo.setCurrentIndex(max(0, self.task_combo.findData(self._values["task"])))
        tokens = self.effective_task() == TOKEN_TASK
        self.text_label.setText("Words column" if tokens else "Text column")
        self.label_label.setText("Tags column" if tokens else "Label column")
        self.pair_combo.setEnabled(not tokens)  # a sentence's words have no second text
        texts_only = self.is_pretraining()
        for widget in (self.label_label, self.label_combo, self.pair_label, self.pair_combo):
            widget.setVisible(not texts_only)
        # Several label columns are read as multi-label only.
        self.several.setVisible(self._values["task"] in ("auto", "multi-label") and found != TOKEN_TASK)
        self.no_labels.setVisible(texts_only)

    def _show_separator(self) -> None:
        """Shown for multi-label chosen, for labels Automatic read as delimited strings, or once
        given; lists and 0/1 columns have no separator."""
        shown = (self._values["task"] == "multi-label" or self._delimited is not None
                 or bool(self._values["label_separator"]))
        self.separator.setPlaceholderText(f"detected: {self._delimited}" if self._delimited else "detect , ; |")
        shown = shown and not self.is_pretraining()
        self.separator.setVisible(shown)
        self.separator_label.setVisible(shown)
        tags = (self.effective_task() == TOKEN_TASK or bool(self._values["tag_names"])) and not self.is_pretraining()
        self.tag_names.setVisible(tags and not shown)
        self.tag_names_label.setVisible(tags and not shown)

    # ------------------------------------------------------------------ user edits
    @Slot(int)
    def _on_task_chosen(self, index: int) -> None:
        task = self.task_combo.itemData(index)
        if task != self._values["task"]:
            self.set_task(task)
            self.sig_changed.emit()

    def _on_columns_chosen(self) -> None:
        """A picked column makes every shown column a choice (a second text of '(none)' then stays
        none instead of being detected again)."""
        chosen = {"text_column": self.text_combo.currentText() or None,
                  "text_pair_column": self.pair_combo.currentData() or None,
                  "label_column": self.label_combo.currentText().strip() or None}
        if tuple(chosen.values()) == self._shown:
            return  # what the data is already read with (picked again, or a field left unchanged)
        self._values.update(chosen)
        self.sig_changed.emit()

    @Slot()
    def _on_label_typed(self) -> None:
        if self.label_combo.currentText().strip():
            self._on_columns_chosen()

    @Slot()
    def _on_several_chosen(self) -> None:
        checked = [action.text() for action in self._menu.actions() if action.isChecked()]
        if not checked:
            return
        label = ",".join(checked)
        if label != self.label_combo.currentText():
            self.label_combo.setEditText(label)
            self._on_columns_chosen()

    @Slot()
    def _on_separator_edited(self) -> None:
        separator = self.separator.text() or None  # spaces may be a separator: not stripped
        if separator != self._values["label_separator"]:
            self._values["label_separator"] = separator
            self.sig_changed.emit()


    @Slot()
    def _on_tag_names_edited(self) -> None:
        names = self.tag_names.text().strip() or None
        if names != self._values["tag_names"]:
            self._values["tag_names"] = names
            self.sig_changed.emit()


class _TickMenu(QMenu):
    """A menu of check boxes that stays open while they are ticked (a click outside closes it)."""

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        action = self.activeAction()
        if action is not None and action.isCheckable() and action.isEnabled():
            action.setChecked(not action.isChecked())
            return
        super().mouseReleaseEvent(event)


def settings_choices(settings: TrainSettings) -> tuple[Any, ...]:
    """The data choices of `settings`, for telling whether the panel already shows them."""
    return tuple(getattr(settings, name) or None for name in CHOICE_FIELDS)


def column_marks(found: Any, choices: dict[str, Any], tokens: bool = False) -> dict[str, str]:
    """The preview's column roles: as the engine found them (DataColumns), else as the user chose
    them; `tokens`: token classification's words and tags."""
    if found is not None:
        text, pair, labels = found.text, found.text_pair, list(found.labels)
    else:
        text, pair = choices["text_column"], choices["text_pair_column"]
        labels = [part.strip() for part in (choices["label_column"] or "").split(",") if part.strip()]
    marks = dict.fromkeys(labels, "tags" if tokens else "label")
    marks.update({name: role for name, role in ((text, "words" if tokens else "text"), (pair, "second text"))
                  if name})
    return marks
