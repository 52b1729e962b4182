"""The data panel's work off the UI thread: the preview rows and prepared splits of a data
source, and the token lengths of its training texts under a model's tokenizer.

For continued pre-training the preview is of the texts as the engine reads them (a .txt file one
text per line, not a table of comma-separated cells), and the prepared splits' texts are counted
and measured in characters for the summary that replaces the label charts.

Plain functions of their arguments (and the task, for its cancel flag), run by the panel's
BackgroundRunner; the engine imports happen inside them so the window starts without them.
"""

from __future__ import annotations

from typing import Any

from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.background import BackgroundTask
from ftstudio.gui.heavy_imports import DATA_WORK, import_transformers
from ftstudio.gui.setup.text_summary import PRETRAIN_TASK, text_facts

PREVIEW_ROWS = 200  # raw rows shown in the preview table
PREVIEW_SENTENCES = 40  # token classification: training sentences shown with their entities
PREVIEW_CELL_CHARS = 300  # longer cells are cut (a whole article would make the table unusable)


def load_data(task: BackgroundTask, settings: TrainSettings) -> dict[str, Any]:
    """Raw preview rows, then the prepared splits and their summary (or the problem with them)."""
    with DATA_WORK:  # never beside another thread's import of transformers (heavy_imports.py)
        return _load_data(task, settings)


def _load_data(task: BackgroundTask, settings: TrainSettings) -> dict[str, Any]:
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.data.sources import resolve_data_source
    from ftstudio.engine.data.summary import summarize
    from ftstudio.engine.errors import DatasetError

    raw = _read_raw(resolve_data_source(settings.data), settings, task.control)
    train = raw["train"]
    head = train.select(range(min(PREVIEW_ROWS, len(train))))
    columns = list(train.column_names)
    table = head.to_dict()
    rows = [[_preview_cell(table[c][i]) for c in columns] for i in range(len(head))]
    task.control.check()
    try:
        prepared = prepare_data(settings, control=task.control)
    except DatasetError as exc:  # keep the preview so the user can pick the right columns
        from ftstudio.engine.tasks.detection import is_token_task

        return {"preview": (columns, rows), "prepared": None, "error": exc, "summary": None,
                "columns": _columns_found(train, settings), "tokens": is_token_task(settings.task, train)}
    return {"preview": (columns, rows), "prepared": prepared, "error": None, "summary": summarize(prepared),
            "columns": prepared.columns, "sentences": preview_sentences(prepared),
            "texts": text_facts(prepared) if prepared.task.language_model else None}


def _read_raw(source: Any, settings: TrainSettings, control: Any) -> Any:
    """The raw splits for the preview, read as training will read them (pre-training reads a
    .txt as plain text, one text per line)."""
    if settings.task == PRETRAIN_TASK:
        from ftstudio.engine.data.prepare_texts import read_texts

        return read_texts(source, control)[0]
    from ftstudio.engine.data.sources import load_raw

    return load_raw(source, control)


def preview_sentences(prepared: Any, count: int = PREVIEW_SENTENCES) -> list[dict[str, Any]] | None:
    """The first training sentences as words and entity spans ([type, start, end exclusive], the
    engine's reading of the BIO tags), for the highlighted preview; None unless token data."""
    if not prepared.task.token_level:
        return None
    from ftstudio.engine.tasks.tag_schemes import entity_spans

    names = prepared.label_names
    head = prepared.splits["train"].select(range(min(count, len(prepared.splits["train"]))))
    return [{"words": list(words), "entities": [list(span) for span in entity_spans([names[i] for i in ids])]}
            for words, ids in zip(head["text"], head["label"], strict=True)]


def _columns_found(train: Any, settings: TrainSettings) -> Any:
    """The columns the engine would read when the data was refused after finding them (a label
    column that looks like a score, say), so the pickers show them; None when they are the problem."""
    from ftstudio.engine.data.columns import detect_columns
    from ftstudio.engine.data.token_columns import detect_token_columns
    from ftstudio.engine.errors import DatasetError
    from ftstudio.engine.tasks.detection import is_token_task

    try:
        if settings.task == PRETRAIN_TASK:  # the text column alone: labels are not read
            from ftstudio.engine.data.columns import DataColumns, detect_text_column

            return DataColumns(detect_text_column(train, settings.text_column), ())
        if is_token_task(settings.task, train):  # words and tags, found as prepare_data finds them
            return detect_token_columns(train, settings.text_column, settings.label_column)
        return detect_columns(train, settings.text_column, settings.label_column, settings.text_pair_column,
                              scores=settings.task == "regression")
    except DatasetError:
        return None


def measure_token_lengths(task: BackgroundTask, prepared: Any, model_spec: str) -> Any:
    """Token count of every training text (of both texts of a pair, as the model reads them)
    under the model's tokenizer (for the length chart)."""
    from ftstudio.engine.data.summary import token_lengths

    import_transformers()
    from ftstudio.engine.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model_spec)
    train = prepared.splits["train"]
    pairs = train["text_pair"][:] if "text_pair" in train.column_names else None
    return token_lengths(train["text"][:], tokenizer, task.control, pairs)


def _preview_cell(value: Any) -> str:
    if isinstance(value, list | tuple):  # a multi-label row's labels: [negative, United]
        text = "[" + ", ".join("" if v is None else str(v) for v in value) + "]"
    else:
        text = "" if value is None else str(value)
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…"
