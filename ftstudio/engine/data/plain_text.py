"""Plain text for continued pre-training: .txt files read one text per line.

A corpus for pre-training is often just text: one document (or paragraph) per line, or a folder
of such files. Every non-blank line is a text; a folder's files named for a split
(train.txt, validation.txt, test.txt; dev, valid, ... as for tables) are that split, and any other
.txt files all hold training text. Encoding is UTF-8 when the whole file decodes as UTF-8, else
Latin-1 (as tables are read). Tables (.csv, .json, ...) are not plain text: their text column is
found as for every task.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.formats import file_format, open_data, text_encoding
from ftstudio.engine.data.paths import check_regular_file
from ftstudio.engine.data.reading import split_name
from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

TEXT_COLUMN = "text"


def is_plain_text(path: Path) -> bool:
    """Whether a data path is plain text for pre-training: a .txt file, or a folder whose data
    files are all .txt."""
    if path.is_dir():
        files = _data_files(path)
        return bool(files) and all(file_format(f) == "txt" for f in files)
    return path.is_file() and file_format(path) == "txt"


def read_plain_text(path: Path, control: Any = None) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """The splits of a .txt file or folder, each a Dataset with one column `text`; notes say
    how the files were read."""
    import datasets

    groups = _split_files(path) if path.is_dir() else {"train": [path]}
    splits, notes = {}, []
    for split, files in groups.items():
        texts: list[str] = []
        for file in files:
            if control is not None:
                control.check()
            texts += _lines(file)
        splits[split] = datasets.Dataset.from_dict({TEXT_COLUMN: texts},
                                                   features=datasets.Features({TEXT_COLUMN: datasets.Value("string")}))
        shown = files[0].name if len(files) == 1 else f"{len(files)} .txt files"
        notes.append(f"Read {shown} as plain text for the {split} split: {len(texts):,} non-blank lines, "
                     "one text per line.")
    if not len(splits["train"]):
        raise DatasetError(f"{path.name} holds no text: every line is blank. Give a file with one text per line.")
    return splits, notes


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and file_format(p) is not None)


def _split_files(folder: Path) -> dict[str, list[Path]]:
    """train/validation/test files by name; other .txt files all train."""
    groups: dict[str, list[Path]] = {}
    for path in _data_files(folder):
        groups.setdefault(split_name(path.name.split(".")[0]) or "train", []).append(path)
    if "train" not in groups:
        raise DatasetError(f"Folder {folder} has no training text: name a file train.txt, or add .txt files with "
                           "other names (every one of them is training text).")
    return groups


def _lines(path: Path) -> list[str]:
    """The file's non-blank lines, stripped."""
    check_regular_file(path)
    encoding = text_encoding(path)
    try:
        with open_data(path) as handle:
            raw = handle.read()
    except OSError as exc:
        raise DatasetError(f"{path.name} cannot be read ({exc.strerror or exc}).") from None
    if b"\x00" in raw[:8192]:
        raise DatasetError(f"{path.name} is a binary file, not text. Give a .txt file with one text per line.")
    text = raw.decode(encoding).lstrip("\ufeff")
    return [line.strip() for line in text.splitlines() if line.strip()]
