"""Which format a data file is in, from its name, and how its bytes are opened: plain, gzip,
bz2 or xz compressed, or the one data file inside a zip; and which encoding its text is in.

A zip is read as the single data file it holds (`datasets` extracts it the same way); one holding
several files, or a compressed file, or Parquet, is refused with the way out (unzip it).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import lzma
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ftstudio.engine.data.excel import EXCEL_SUFFIXES
from ftstudio.engine.errors import DatasetError

# File suffix -> our format name (reading.py maps each to the `datasets` builder that reads it;
# "conll", a token and its tag per line, is read by conll.py). A .txt in CoNLL shape is sniffed there.
# CoNLL-U (.conllu) is not CoNLL: its tenth column is not a tag, so it is not listed.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt", ".json": "json",
           ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet", ".conll": "conll", ".iob": "conll",
           ".iob2": "conll", ".bio": "conll", ".bioes": "conll"}
OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
SUPPORTED_FORMATS = (".csv, .tsv, .txt (tab- or comma-separated), .json, .jsonl, .parquet, .xlsx (with openpyxl), "
                     ".conll/.iob/.bio (a word and its tag per line); "
                     "text formats may be .gz, .bz2 or .xz compressed, or the one file in a .zip")


def file_format(path: Path) -> str | None:
    """Our format name for a file name ('csv', 'tsv', 'txt', 'json', 'parquet', 'conll', 'excel', or
    'zip': the format of the one file inside), or None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".zip":
        return "zip"
    if suffixes and suffixes[-1] in EXCEL_SUFFIXES:
        return "excel"
    if suffixes and suffixes[-1] in OPENERS:
        suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] == ".parquet":
            return None  # parquet compresses internally; a .parquet.gz is not readable as is
    return FORMATS.get(suffixes[-1]) if suffixes else None


@contextlib.contextmanager
def open_data(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed (gzip, bz2, xz, or the one data file of a zip)."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive, archive.open(zip_member(path, archive)) as handle:
            yield handle  # type: ignore[misc]
        return
    opener = OPENERS.get(path.suffix.lower(), open)
    with opener(path, "rb") as handle:  # type: ignore[operator]
        yield handle


def zip_member(path: Path, archive: zipfile.ZipFile) -> str:
    """The one data file in a zip (folders, hidden files and macOS __MACOSX copies do not count)."""
    members = [info.filename for info in archive.infolist()
               if not info.is_dir() and not any(part.startswith((".", "__")) for part in info.filename.split("/"))]
    if len(members) != 1:
        found = f"holds {len(members)} files ({', '.join(members[:4])})" if members else "holds no file"
        raise DatasetError(f"{path.name} {found}; a zip must hold one data file: unzip it and pick the file or folder.")
    member = members[0]
    fmt = file_format(Path(member))
    if fmt not in ("csv", "tsv", "txt", "json", "conll") or Path(member).suffix.lower() in OPENERS:
        raise DatasetError(
            f"{path.name} holds {member}, which is not read from inside a zip; a zip may hold one CSV, TSV, "
            "TXT, JSON, JSONL or CoNLL file: unzip it and pick the file."
        )
    return member


def text_encoding(path: Path) -> str:
    """'utf-8' when the whole file (decompressed) decodes as UTF-8, else 'latin-1'."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open_data(path) as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"  # every byte is a Latin-1 character, so this never fails
    return "utf-8"


def zipped_format(files: list[Path]) -> str:
    """The format of the data files inside these zips (one format for the whole split)."""
    formats = set()
    for path in files:
        try:
            with zipfile.ZipFile(path) as archive:
                formats.add(file_format(Path(zip_member(path, archive))))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DatasetError(f"{path.name} is not a readable zip file ({exc}); check that the file is complete.") from None
    if len(formats) != 1:
        raise DatasetError(f"The zips {', '.join(f.name for f in files)} hold files of different formats.")
    return formats.pop()  # type: ignore[return-value]
