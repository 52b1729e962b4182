"""The data panel's work off the UI thread: the preview rows and prepared splits of a data
source, and the token lengths of its training texts under a model's tokenizer.

Plain functions of their arguments (and the task, for its cancel flag), run by the panel's
BackgroundRunner; the engine imports happen inside them so the window starts without them.
"""

from __future__ import annotations

from typing import Any

from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.background import BackgroundTask

PREVIEW_ROWS = 200  # raw rows shown in the preview table
PREVIEW_CELL_CHARS = 300  # longer cells are cut (a whole article would make the table unusable)


def load_data(task: BackgroundTask, settings: TrainSettings) -> dict[str, Any]:
    """Raw preview rows, then the prepared splits and their summary (or the problem with them)."""
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.data.sources import load_raw, resolve_data_source
    from ftstudio.engine.data.summary import summarize
    from ftstudio.engine.errors import DatasetError

    raw = load_raw(resolve_data_source(settings.data), task.control)
    train = raw["train"]
    head = train.select(range(min(PREVIEW_ROWS, len(train))))
    columns = list(train.column_names)
    table = head.to_dict()
    rows = [[_preview_cell(table[c][i]) for c in columns] for i in range(len(head))]
    task.control.check()
    try:
        prepared = prepare_data(settings, control=task.control)
    except DatasetError as exc:  # keep the preview so the user can pick the right columns
        return {"preview": (columns, rows), "prepared": None, "error": exc, "summary": None}
    return {"preview": (columns, rows), "prepared": prepared, "error": None, "summary": summarize(prepared)}


def measure_token_lengths(task: BackgroundTask, prepared: Any, model_spec: str) -> Any:
    """Token count of every training text under the model's tokenizer (for the length chart)."""
    from ftstudio.engine.data.summary import token_lengths
    from ftstudio.engine.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model_spec)
    return token_lengths(prepared.splits["train"]["text"][:], tokenizer, task.control)


def _preview_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…"
