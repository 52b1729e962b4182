"""The study folder as the Search tab uses it: preparing it, reading the study in it (on the
background runner), and the tail of its search.log. Whether a folder may take a new study is the
engine's rule (engine.search.runner.study_folder_problem), the same `ftstudio search` applies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LOG_TAIL_LINES = 200  # of an opened study's search.log


def read_study_view(study_dir: Path, importances: bool) -> tuple[Path, Any, bool]:
    """The study in `study_dir` as the engine reads it (on the background runner: imports optuna)."""
    from ftstudio.engine.search.results import read_study

    return study_dir, read_study(study_dir, importances=importances), importances


def prepare_folder(study_dir: Path) -> None:
    """Create the folder for the study's inputs (settings.toml, space.toml: files a study folder
    may hold, engine.search.runner.STUDY_FOLDER_FILES); `ftstudio search` records the study there."""
    study_dir.mkdir(parents=True, exist_ok=True)


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
