"""Excel workbooks as data: the first sheet read with openpyxl, an optional extra.

`pip install 'ftstudio[excel]'` brings openpyxl; it is imported only when a workbook is read.
Without it, and for the old binary .xls format, the user is told how to convert the file. A file
named .xlsx that is not a workbook at all is refused as such, not reported as a parser error.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.paths import read_head
from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls (and other Office files)
_CONVERT = "save it as CSV from Excel (File > Save As > CSV UTF-8)"


def read_workbook(path: Path) -> tuple[datasets.Dataset, list[str]]:
    """The first sheet of an .xlsx/.xlsm workbook as a Dataset, and notes on what was read."""
    _check_is_workbook(path)
    try:
        import openpyxl  # noqa: F401 - pandas reads through it; imported here to say so when missing
    except ImportError:
        raise DatasetError(
            f"{path.name} is an Excel workbook, which ftstudio reads only with openpyxl: {_CONVERT}, "
            "or pip install 'ftstudio[excel]'."
        ) from None
    import pandas as pd

    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", dtype=object)
    except Exception as exc:  # noqa: BLE001 - a damaged or protected workbook: one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path.name} cannot be read as an Excel workbook ({first[:200]}); {_CONVERT}.") from None
    if not sheets:
        raise DatasetError(f"{path.name} has no sheets.")
    name, frame = next(iter(sheets.items()))
    notes = []
    if len(sheets) > 1:
        notes.append(f"Read the first sheet '{name}' of {path.name} (it has {len(sheets)}); the others are ignored.")
    frame = frame.dropna(how="all")  # rows Excel keeps after cleared cells
    if frame.empty:
        raise DatasetError(f"{path.name} has no data: its first sheet '{name}' holds no rows below its header.")
    return _to_dataset(frame), notes


def _check_is_workbook(path: Path) -> None:
    magic = read_head(path, 8)
    if magic == _OLE2_MAGIC:
        raise DatasetError(f"{path.name} is an old-style Excel workbook (.xls), which ftstudio does not read: {_CONVERT}.")
    if not magic.startswith(b"PK") or not _holds_workbook(path):
        raise DatasetError(
            f"{path.name} is not an Excel workbook (its content is something else): check the file, or give it "
            "its real extension (.csv, .json, ...)."
        )


def _holds_workbook(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _to_dataset(frame: Any) -> datasets.Dataset:
    """Columns with one kind of value each: numbers stay numbers; anything mixed becomes text."""
    import datasets
    import pandas as pd

    columns = {}
    for position, column in enumerate(frame.columns):
        name = _column_name(column, position)
        values = [None if _blank(v) else v for v in frame[column].tolist()]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            whole = all(float(v).is_integer() for v in present)  # 1 and 1.0 alike: whole numbers stay integers
            columns[name] = pd.array([None if v is None else int(v) for v in values], dtype="Int64") if whole \
                else pd.to_numeric(pd.Series(values, dtype=object))
        elif present and all(isinstance(v, bool) for v in present):
            columns[name] = values
        else:
            columns[name] = [None if v is None else str(v) for v in values]
    return datasets.Dataset.from_pandas(pd.DataFrame(columns), preserve_index=False)


def _column_name(column: Any, position: int) -> str:
    text = "" if _blank(column) else str(column)
    return text if text and not text.startswith("Unnamed: ") else f"column {position + 1}"


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()
