"""Where training data comes from: a data spec resolved to the embedded sample, a file or folder,
or a Hub dataset, and that source's own splits read as they are.

Every failure raises a `DatasetError` whose message says what to change.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.formats import FORMATS, SUPPORTED_FORMATS, file_format
from ftstudio.engine.data.paths import data_path_kind
from ftstudio.engine.data.reading import read_file_splits, read_hub
from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

# A Hub dataset id: "name" or "owner/name" (letters, digits, '-', '_', '.').
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
# Extensions that make a missing name a missing *file* rather than a Hub id.
_FILE_LIKE = set(FORMATS) | {".gz", ".bz2", ".xz", ".zip", ".xlsx", ".xls", ".ods", ".arrow", ".feather",
                             ".pkl", ".pickle", ".h5", ".db", ".sqlite", ".tar"}
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSource:
    """A resolved data spec: `kind` is sample/file/hub, `ref` what to read, `display` for people."""

    kind: str
    ref: str
    display: str


def resolve_data_source(spec: str) -> DataSource:
    """Classify a data spec: 'sample', an existing file or folder, or a Hub dataset id."""
    text = str(spec).strip()
    if not text:
        raise DatasetError("No dataset given: choose 'sample', a data file or folder, or a Hub dataset name.")
    if text.lower() == "sample":
        from ftstudio.engine.data.sample import SAMPLE_DESCRIPTION

        return DataSource("sample", "sample", SAMPLE_DESCRIPTION.split(":")[0])
    if text.lower().startswith("sample:"):
        from ftstudio.engine.data.sample_tasks import TASK_SAMPLES

        name = text.lower()
        if name not in TASK_SAMPLES:
            raise DatasetError(f"Unknown sample '{text}': choose one of sample, {', '.join(TASK_SAMPLES)}.")
        return DataSource("sample", name, f"embedded {name}")
    path = Path(text).expanduser()
    kind = data_path_kind(path)  # pipes, devices and link loops are refused here, never opened
    if kind == "folder":
        return DataSource("file", str(path.resolve()), f"folder {path.name}")
    if kind == "file":
        if file_format(path) is None:
            raise DatasetError(f"{path.name}: unsupported file type; supported formats: {SUPPORTED_FORMATS}.")
        return DataSource("file", str(path.resolve()), path.name)
    if _looks_like_hub_id(text):
        return DataSource("hub", text, f"Hub dataset {text}")
    raise DatasetError(f"Data file not found: {text}. Check the path, or give a Hub dataset name or 'sample'.")


def _looks_like_hub_id(text: str) -> bool:
    if not _HUB_ID.match(text) or text.startswith("."):
        return False
    return not any(text.lower().endswith(ext) for ext in _FILE_LIKE)


def load_raw(source: DataSource, control: Any = None) -> dict[str, datasets.Dataset]:
    """The data's own splits, named train / validation / test. Notes about how the data was read
    (encoding fallback, ignored files) go to this module's logger here; `prepare_data`
    returns them in `PreparedData.notes` instead."""
    splits, notes = load_raw_with_notes(source, control)
    for note in notes:
        _log.info(note)
    return splits


def load_raw_with_notes(source: DataSource, control: Any) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """The data's own splits and the notes on how they were read (for `prepare_data`)."""
    if source.kind == "sample":
        from ftstudio.engine.data.sample import load_sample
        from ftstudio.engine.data.sample_tasks import load_task_sample

        return {"train": load_sample() if source.ref == "sample" else load_task_sample(source.ref)}, []
    if source.kind == "file":
        path = Path(source.ref)
        if data_path_kind(path) == "missing":
            raise DatasetError(f"Data file not found: {path}. Check the path.")
        return read_file_splits(path, control)
    if source.kind == "hub":
        return read_hub(source.ref)
    raise DatasetError(f"Unknown data source kind '{source.kind}'; use sample, file or hub.")
