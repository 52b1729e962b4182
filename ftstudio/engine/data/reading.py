"""Reading data files and Hub datasets into raw splits, with every failure translated for the user.

`datasets.load_dataset` does the reading (it caches Arrow copies and handles compression), but
its errors arrive as `DatasetGenerationError` wrapping a pandas or pyarrow exception with a
traceback nobody outside this module should see. So each file is first sniffed (empty, binary,
encoding, delimiter) and any remaining failure is mapped to a one-line `DatasetError`.
A .zip holding one data file is read as that file (`datasets` extracts it); Excel workbooks go
through `excel.py`, CoNLL files (a token and its tag per line; also a .txt of that shape) through
`conll.py`. Every file is checked to be a regular file before it is opened (`paths.py`).
"""

from __future__ import annotations

import contextlib
import logging
import lzma
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.conll import looks_like_conll, read_conll
from ftstudio.engine.data.excel import read_workbook
from ftstudio.engine.data.formats import (
    SUPPORTED_FORMATS,
    file_format,
    open_data,
    text_encoding,
    zipped_format,
)
from ftstudio.engine.data.paths import check_regular_file, read_head
from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

_BUILDERS = {"csv": "csv", "tsv": "csv", "txt": "csv", "json": "json", "parquet": "parquet"}
_SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                  "val": "validation", "dev": "validation", "eval": "validation", "test": "test",
                  "testing": "test"}
_SNIFF_BYTES = 8192
_Control = Any  # anything with check(); TrainingControl in practice


def split_name(name: str) -> str | None:
    """'dev' -> 'validation', 'train-00000-of-00002' -> 'train'; None for unknown names."""
    lowered = name.lower()
    if lowered in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[lowered]
    head = re.split(r"[-_. ]", lowered, maxsplit=1)[0]
    return _SPLIT_ALIASES.get(head)


# ------------------------------------------------------------------ local files
def folder_split_files(folder: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """Group a folder's data files by split (train/validation/test) from their names."""
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and file_format(p) is not None)
    if not files:
        raise DatasetError(f"Folder {folder} holds no data files; supported formats: {SUPPORTED_FORMATS}.")
    groups: dict[str, list[Path]] = {}
    ignored = []
    for path in files:
        split = split_name(path.name.split(".")[0])
        if split is None:
            ignored.append(path.name)
        else:
            groups.setdefault(split, []).append(path)
    if not groups and len(files) == 1:
        return {"train": files}, []
    if "train" not in groups:
        raise DatasetError(
            f"Folder {folder} has no train file: name the files train.csv, validation.csv and test.csv "
            f"(found {', '.join(p.name for p in files[:6])})."
        )
    notes = [f"Ignored files not named for a split: {', '.join(ignored)}."] if ignored else []
    return groups, notes


def read_file_splits(path: Path, control: _Control = None) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """A file (train only) or a folder of split files, read split by split."""
    if path.is_dir():
        groups, notes = folder_split_files(path)
    else:
        groups, notes = {"train": [path]}, []
    splits = {}
    for split, files in groups.items():
        if control is not None:
            control.check()
        splits[split], split_notes = read_files(files)
        notes += split_notes
    return splits, notes


def read_files(files: list[Path]) -> tuple[datasets.Dataset, list[str]]:
    """Read one split's files (one format) into a Dataset; notes say what was adapted."""
    formats = {file_format(f) for f in files}
    if len(formats) != 1 or None in formats:
        names = ", ".join(f.name for f in files)
        raise DatasetError(f"Files {names} mix formats or use an unsupported one; use one of {SUPPORTED_FORMATS}.")
    fmt = formats.pop()
    for path in files:
        check_regular_file(path)  # a pipe or device must never be opened
    if fmt == "excel":
        if len(files) > 1:
            raise DatasetError(f"Give one workbook per split ({', '.join(f.name for f in files)}).")
        return read_workbook(files[0])
    if fmt == "zip":
        fmt = zipped_format(files)
    txt_notes: list[str] = []
    if fmt == "txt":
        fmt, txt_notes = _txt_format(files)
    if fmt == "conll":
        with _quiet_datasets():
            dataset, conll_notes = read_conll(files)
        return dataset, txt_notes + conll_notes
    kwargs, notes = _reader_options(files, fmt)
    try:
        dataset = _load(_BUILDERS[fmt], files, kwargs)
        return (_unwrap_json(dataset, files) if fmt == "json" else dataset), notes
    except DatasetError:
        raise
    except Exception as exc:  # anything from datasets/pandas/pyarrow: translate below
        if _BUILDERS[fmt] == "csv" and _is_type_clash(exc):
            # pandas inferred a column's type from the first chunk and a later chunk disagreed:
            # read every column as text; labels that look like integers are handled later.
            kwargs["features"] = _all_string_features(files[0], kwargs)
            try:
                return _load("csv", files, kwargs), notes
            except Exception as again:
                exc = again
        raise DatasetError(_translate(exc, files, fmt)) from None


def _txt_format(files: list[Path]) -> tuple[str, list[str]]:
    """'conll' when every .txt is CoNLL-shaped (a token and its tag per line), 'txt' (a table) when none is."""
    shaped = [path for path in files
              if looks_like_conll(_head(path).decode("utf-8", errors="replace").lstrip("\ufeff"))]
    if not shaped:
        return "txt", []
    if len(shaped) < len(files):
        others = [path.name for path in files if path not in shaped]
        raise DatasetError(
            f"{', '.join(p.name for p in shaped)} hold a token and its tag per line (CoNLL) but "
            f"{', '.join(others)} do not; give one split's files in one shape."
        )
    return "conll", [f"Read {', '.join(p.name for p in files)} as CoNLL: a token and its tag per line."]


def _unwrap_json(dataset: datasets.Dataset, files: list[Path]) -> datasets.Dataset:
    """A JSON file holding one object like {"data": [records]}: read the records in that field."""
    if dataset.num_rows != 1 or len(dataset.column_names) != 1:
        return dataset
    field_name = dataset.column_names[0]
    try:
        return _load("json", files, {"field": field_name})
    except Exception:  # not a list of records after all: keep what we had
        return dataset


def _reader_options(files: list[Path], fmt: str) -> tuple[dict[str, Any], list[str]]:
    """Sniff each file (empty, binary, encoding, delimiter) and return load_dataset options."""
    notes: list[str] = []
    if fmt == "parquet":
        for path in files:
            _check_parquet(path)
        return {}, notes
    encodings = set()
    separator = ","
    for path in files:
        head = _head(path)
        encoding = text_encoding(path)
        if encoding == "latin-1":
            if fmt == "json":
                raise DatasetError(f"{path.name} is not valid UTF-8; JSON must be UTF-8: re-save it as UTF-8.")
            notes.append(f"{path.name} is not valid UTF-8; read it as Latin-1 (re-save as UTF-8 if accents look wrong).")
        encodings.add(encoding)
        separator = _separator(head.decode(encoding, errors="replace"), fmt)
    if fmt == "json":
        return {}, notes
    # utf-8-sig reads plain UTF-8 too and drops a byte-order mark that would otherwise stick to
    # the first column's name. Only "" means missing: a text or label reading "NA" or "null" is data.
    encoding = "latin-1" if "latin-1" in encodings else "utf-8-sig"
    return {"sep": separator, "encoding": encoding, "keep_default_na": False, "na_values": [""]}, notes


def _head(path: Path) -> bytes:
    """The first bytes (decompressed); refuses empty and binary files."""
    try:
        with open_data(path) as handle:
            head = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path.name} cannot be read ({exc}); check that the file is complete.") from None
    if not head.strip():
        raise DatasetError(f"{path.name} is empty: it needs a header line and at least one row.")
    if b"\x00" in head:
        raise DatasetError(
            f"{path.name} looks binary (or UTF-16), not text: save it as UTF-8 CSV, TSV or JSON, or as Parquet."
        )
    return head


def _separator(head: str, fmt: str) -> str:
    """Tab for .tsv; for .txt a tab when the header has one; for .csv ',' unless the header
    clearly uses tabs or semicolons instead (Excel in many locales writes ';')."""
    first = head.splitlines()[0] if head.splitlines() else ""
    if fmt == "tsv":
        return "\t"
    if "\t" in first and (fmt == "txt" or "," not in first):
        return "\t"
    if fmt == "csv" and ";" in first and "," not in first:
        return ";"
    return ","


def _check_parquet(path: Path) -> None:
    magic = read_head(path, 4)
    if not magic:
        raise DatasetError(f"{path.name} is empty: it needs at least one row.")
    if magic != b"PAR1":
        raise DatasetError(f"{path.name} is not a Parquet file; check the file or give it its real extension.")


def _all_string_features(path: Path, kwargs: dict[str, Any]) -> datasets.Features:
    import datasets
    import pandas as pd

    with open_data(path) as handle:
        header = pd.read_csv(handle, nrows=0, sep=kwargs["sep"], encoding=kwargs["encoding"]).columns
    return datasets.Features({str(name): datasets.Value("string") for name in header})


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence datasets' own error logging and progress bars: we report failures ourselves."""
    import datasets

    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        logger.setLevel(level)


def _load(builder: str, files: list[Path], kwargs: dict[str, Any]) -> datasets.Dataset:
    import datasets

    # Loading a local file must not touch the network: datasets otherwise sends a "download
    # count" request to S3 for the csv/json/parquet builder (caught by tests/engine/models/test_safety.py).
    datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = False
    with _quiet_datasets():
        return datasets.load_dataset(builder, data_files={"train": [str(f) for f in files]},
                                     split="train", **kwargs)


# ------------------------------------------------------------------ error translation
def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_type_clash(exc: BaseException) -> bool:
    text = " ".join(str(e) for e in _chain(exc))
    return any(k in text for k in ("Failed to parse string", "Could not convert", "Couldn't cast",
                                   "cannot mix", "Expected bytes", "to cast"))


def _translate(exc: BaseException, files: list[Path], fmt: str) -> str:
    """One line for the user from whatever datasets/pandas/pyarrow raised."""
    import pandas as pd

    name = ", ".join(f.name for f in files)
    chain = list(_chain(exc))
    for err in chain:
        message = str(err).strip()
        if isinstance(err, pd.errors.EmptyDataError):
            return f"{name} is empty: it needs a header line and at least one row."
        if isinstance(err, pd.errors.ParserError):
            return _parser_message(name, message)
        if "corresponds to no data" in message:
            what = "records" if fmt == "json" else "rows below its header"
            return f"{name} has no data: it holds no {what}."
        if isinstance(err, UnicodeDecodeError):
            return f"{name} is not valid text in its encoding: re-save it as UTF-8."
        if fmt == "json" and ("JSON parse error" in message or "JSON" in type(err).__name__):
            return _json_message(name, message)
        if "Parquet" in message or "parquet" in message:
            return f"{name} is not a readable Parquet file ({_first_line(message)})."
    return f"{name} cannot be read as {fmt.upper()}: {_first_line(str(chain[-1]))}."


def _parser_message(name: str, message: str) -> str:
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if match:
        want, line, saw = match.groups()
        return (f"{name} line {line} has {saw} fields where the header has {want}: quote texts that contain "
                f"the separator, or fix that row.")
    match = re.search(r"line (\d+)", message)
    where = f" near line {match.group(1)}" if match else ""
    return f"{name} is not well-formed CSV{where} ({_first_line(message)}); check quotes and separators."


def _json_message(name: str, message: str) -> str:
    match = re.search(r"Column\((/[^)]*)\) changed from (\w+) to (\w+)(?: in row (\d+))?", message)
    if match:
        column, old, new, row = match.groups()
        at = f" at record {int(row) + 1}" if row else ""
        return (f"{name}: field '{column.lstrip('/')}' changes from {old} to {new}{at}; "
                f"each field must hold one kind of value.")
    match = re.search(r"in row (\d+)", message)
    where = f" at record {int(match.group(1)) + 1}" if match else ""
    detail = re.sub(r"\.? in row \d+", "", _first_line(message).replace("JSON parse error: ", ""))
    return f"{name} is not valid JSON{where} ({detail}); fix the file (one object per line for .jsonl)."


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line.rstrip(".")[:200]


# ------------------------------------------------------------------ Hub
def read_hub(name: str) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """Download (or reuse the cached copy of) a Hub dataset; refuses quickly when offline."""
    from ftstudio.engine.hub import hub_reachable, offline_reason

    if not hub_reachable():
        raise DatasetError(
            f"Cannot load the Hub dataset '{name}': {offline_reason()}. Connect to the internet, "
            "or use a local file or the embedded 'sample'."
        )
    import datasets

    try:
        with _quiet_datasets():
            loaded = datasets.load_dataset(name)
    except Exception as exc:
        raise DatasetError(_hub_message(name, exc)) from None
    if not isinstance(loaded, dict):  # a single Dataset
        loaded = {"train": loaded}
    return normalise_splits(dict(loaded), f"Hub dataset '{name}'")


def _hub_message(name: str, exc: BaseException) -> str:
    kinds = {type(e).__name__ for e in _chain(exc)}
    text = " ".join(str(e) for e in _chain(exc))
    if "GatedRepoError" in kinds or "gated" in text.lower():
        return (f"The Hub dataset '{name}' is gated: accept its terms on huggingface.co/datasets/{name} "
                "and log in with `hf auth login`.")
    if kinds & {"DatasetNotFoundError", "RepositoryNotFoundError", "FileNotFoundError"}:
        return (f"The Hub dataset '{name}' was not found (or is private): check the name on "
                "huggingface.co/datasets, or log in with `hf auth login`.")
    if "Config name is missing" in text:
        return f"The Hub dataset '{name}' has several configurations; download the one you want and load it as a file."
    return f"Cannot load the Hub dataset '{name}': {_first_line(str(exc))}."


def normalise_splits(raw: dict[str, datasets.Dataset], what: str) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """Rename splits to train/validation/test; a lone split of another name becomes train."""
    out: dict[str, datasets.Dataset] = {}
    ignored = []
    for name, dataset in raw.items():
        split = split_name(name)
        if split is None or split in out:
            ignored.append(name)
        else:
            out[split] = dataset
    if "train" not in out and len(raw) == 1:
        return {"train": next(iter(raw.values()))}, []
    if "train" not in out:
        raise DatasetError(f"{what} has no train split (its splits: {', '.join(raw)}); choose another dataset.")
    notes = [f"Ignored splits of {what}: {', '.join(ignored)}."] if ignored else []
    return out, notes
