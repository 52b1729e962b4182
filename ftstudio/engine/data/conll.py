"""Token-classification data in CoNLL shape, read into a Dataset with columns "tokens" and "tags".

The shape: one `token<TAB or spaces>tag` per line, a blank line between sentences, `-DOCSTART-`
lines (document breaks) skipped. With more than two columns (CoNLL-2003: token POS chunk NER) the
first field is the token and the last the tag. A line with one field is refused with its number.

Files are streamed line by line into `datasets`' Arrow cache (never held whole in memory), under
a fingerprint of each file's path, size, modification time and encoding, so a changed file is
read again and an unchanged one is reused. `looks_like_conll` tells a .txt of this shape from a
tab- or comma-separated table.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ftstudio.engine.data.formats import open_data, text_encoding, zip_member
from ftstudio.engine.data.paths import check_regular_file
from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

TOKENS, TAGS = "tokens", "tags"
DOCSTART = "-DOCSTART-"
SHAPE = "a token and its tag per line, separated by a tab or spaces, with a blank line between sentences"
# Part of the cache fingerprint: bump it whenever parsing changes what a file yields, or
# datasets would hand back the Arrow copy made by the older parser.
_PARSER_VERSION = "conll-1"
_SNIFF_BYTES = 8192
_SPACES = re.compile(r"[ \t]+")
# Whitespace that ends a line or pads a field; other Unicode spaces (no-break space) may be tokens.
_PAD = " \t\r\n\f\v\ufeff"
# A tag: O, a scheme prefix (B/I/E/S/L/U, then - or _) and a type, or a bare type (IO tags, POS).
_PREFIXED = re.compile(r"^[BIESLU][-_][^\W\d_][\w.:$-]*$")
_BARE = re.compile(r"^[^\W\d_][\w.:$-]{0,39}$")


def _fields(line: str) -> list[str]:
    """A line's fields: split at tabs when it has any (a token may then hold spaces), else at spaces."""
    line = line.strip(_PAD)
    if not line:
        return []
    if "\t" in line:
        return [field.strip(_PAD) for field in line.split("\t") if field.strip(_PAD)]
    return _SPACES.split(line)


def _is_tag(field: str) -> bool:
    return bool(_PREFIXED.match(field) or _BARE.match(field))


def looks_like_conll(text_head: str) -> bool:
    """Whether the start of a text file is CoNLL-shaped: most non-blank lines have the same number
    (>= 2) of fields, a first field without spaces and a last field that looks like a tag, and either
    blank lines split them into groups (sentences) or the tags are mostly O / B-X style."""
    lines = text_head.splitlines()
    if len(lines) > 1 and not text_head.endswith(("\n", "\r")):
        lines = lines[:-1]  # a head cut from a longer file may end mid-line
    widths: Counter[int] = Counter()
    tags: list[str] = []
    lines_seen = groups = 0
    in_group = False
    for line in lines:
        fields = _fields(line)
        if not fields or fields[0] == DOCSTART:
            in_group = False
            continue
        groups += not in_group
        in_group = True
        lines_seen += 1
        widths[len(fields)] += 1
        if len(fields) >= 2 and not any(c.isspace() for c in fields[0]) and _is_tag(fields[-1]):
            tags.append(fields[-1])
    if lines_seen < 2 or len(tags) < 0.8 * lines_seen or widths.most_common(1)[0][1] < 0.8 * lines_seen:
        return False
    # One group of single-word rows is what a tab-separated table of words and classes looks like too;
    # only scheme tags (O, B-PER) tell a one-sentence CoNLL file apart.
    scheme_tags = sum(tag == "O" or bool(_PREFIXED.match(tag)) for tag in tags)
    return groups >= 2 or scheme_tags >= len(tags) / 2


def read_conll(files: list[Path]) -> tuple[datasets.Dataset, list[str]]:
    """One split's CoNLL files as a Dataset with "tokens" and "tags" (lists of strings), and notes on
    how they were read (a Latin-1 fallback). Refuses empty, binary and malformed files in words."""
    import datasets

    notes = []
    sources = []
    for path in files:
        check_regular_file(path)  # a pipe or device must never be opened
        _check_text(path)
        encoding = text_encoding(path)
        if encoding == "latin-1":
            notes.append(f"{path.name} is not valid UTF-8; read it as Latin-1 (re-save as UTF-8 if accents look wrong).")
        sources.append((str(path), encoding))
    features = datasets.Features({TOKENS: datasets.Sequence(datasets.Value("string")),
                                  TAGS: datasets.Sequence(datasets.Value("string"))})
    try:
        dataset = datasets.Dataset.from_generator(_generate, features=features, gen_kwargs={"sources": sources},
                                                  fingerprint=_fingerprint(files, sources))
    except Exception as exc:  # datasets wraps what the generator raised; ours is somewhere in the chain
        raise DatasetError(_message(exc, files)) from None
    return dataset, notes


def _check_text(path: Path) -> None:
    try:
        with open_data(path) as handle:
            head = handle.read(_SNIFF_BYTES)
    except DatasetError:
        raise
    except Exception as exc:  # OSError, a bad zip or compressed stream
        raise DatasetError(f"{path.name} cannot be read ({exc}); check that the file is complete.") from None
    if not head.strip():
        raise DatasetError(f"{path.name} is empty: it needs sentences, {SHAPE}.")
    if b"\x00" in head:
        raise DatasetError(f"{path.name} looks binary (or UTF-16), not text: save it as UTF-8 text, {SHAPE}.")


def _fingerprint(files: list[Path], sources: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256(_PARSER_VERSION.encode())
    for path, (name, encoding) in zip(files, sources):
        stat = path.stat()
        digest.update(f"\0{Path(name).resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{encoding}".encode())
    return digest.hexdigest()[:40]


def _generate(sources: list[tuple[str, str]]) -> Iterator[dict[str, list[str]]]:
    for name, encoding in sources:
        for tokens, tags in conll_sentences(Path(name), encoding):
            yield {TOKENS: tokens, TAGS: tags}


def _is_comment(fields: list[str]) -> bool:
    """A comment line ("# id 5f3... domain=en", as MultiCoNER writes them): a lone '#' first,
    then several fields, the last a key=value. A '#' word tagged O is two fields and stays."""
    return len(fields) > 2 and fields[0] == "#" and "=" in fields[-1]


def conll_sentences(path: Path, encoding: str = "utf-8") -> Iterator[tuple[list[str], list[str]]]:
    """(tokens, tags) per sentence of one CoNLL file, streamed; refuses a line with one field and a
    file without sentences."""
    name = display_name(path)
    found = 0
    tokens: list[str] = []
    tags: list[str] = []
    # utf-8-sig drops a byte-order mark; newline=None reads Windows and old Mac line endings too.
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    with open_data(path) as raw, io.TextIOWrapper(raw, encoding=codec, newline=None) as text:  # type: ignore[arg-type]
        for number, line in enumerate(text, start=1):
            if number == 1 and codec == "latin-1":
                line = line.removeprefix("\xef\xbb\xbf")  # a UTF-8 mark on a file that is not UTF-8 after all
            fields = _fields(line)
            if not fields or fields[0] == DOCSTART:
                if tokens:
                    yield tokens, tags
                    found += 1
                    tokens, tags = [], []
                continue
            if _is_comment(fields):
                continue
            if len(fields) < 2:
                raise DatasetError(
                    f"{name} line {number} has a token without a tag ({_quote(fields[0])}); "
                    f"CoNLL data needs {SHAPE}."
                )
            tokens.append(fields[0])
            tags.append(fields[-1])
    if tokens:
        yield tokens, tags
        found += 1
    if not found:
        raise DatasetError(f"{name} holds no sentences: CoNLL data needs {SHAPE}.")


def display_name(path: Path) -> str:
    """'train.conll', or 'train.conll in data.zip' for the file inside a zip."""
    if path.suffix.lower() != ".zip":
        return path.name
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return f"{zip_member(path, archive)} in {path.name}"


def _quote(text: str, limit: int = 40) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return "'" + shown.replace("\r", "\\r").replace("\n", "\\n") + "'"


def _message(exc: BaseException, files: list[Path]) -> str:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, DatasetError):
            return str(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return f"{', '.join(f.name for f in files)} cannot be read as CoNLL ({first}); it needs {SHAPE}."
