"""The study folder as the Search tab uses it: is it free for a new study, preparing it, reading
the study in it (on the background runner), and the tail of its search.log."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ftstudio.engine.search.study import default_storage, default_study_name, read_pointer, write_pointer
from ftstudio.gui.search.options import SearchOptions

LOG_TAIL_LINES = 200  # of an opened study's search.log


def read_study_view(study_dir: Path, importances: bool) -> tuple[Path, Any, bool]:
    """The study in `study_dir` as the engine reads it (on the background runner: imports optuna)."""
    from ftstudio.engine.search.results import read_study

    return study_dir, read_study(study_dir, importances=importances), importances


def folder_problem(study_dir: Path) -> str:
    """Why the study cannot go in `study_dir` ("" when it can): a file, or a folder holding
    other things than a study."""
    if study_dir.exists() and not study_dir.is_dir():
        return f"{study_dir} is a file; choose a folder for the study."
    if study_dir.is_dir() and any(study_dir.iterdir()) and read_pointer(study_dir) is None:
        return f"{study_dir} holds other files; choose a new or empty folder for the study."
    return ""


def prepare_folder(study_dir: Path, options: SearchOptions) -> None:
    """Create the folder and record where its study lives (search.json, as `ftstudio search`
    itself records it): the inputs written beside it then do not make the folder look foreign."""
    study_dir.mkdir(parents=True, exist_ok=True)
    if read_pointer(study_dir) is None:
        write_pointer(study_dir, options.storage or default_storage(study_dir),
                      options.study_name or default_study_name(study_dir))


def log_tail(path: Path) -> str:
    """The last LOG_TAIL_LINES lines of a log (its last 64 kB read), "" when there is none."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64_000))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])
