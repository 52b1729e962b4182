"""Tag schemes of token-classification data: which one a dataset uses, and its conversion to BIO.

Inside the engine every scheme is BIO (IOB2: B-X opens an entity, I-X continues it, O is outside),
so the model, the metrics and the predictor know one scheme only. Datasets arrive in IOB1 (the
original CoNLL-2003 files), BIOES/BILOU, IO or BIO with mistakes; `to_bio` reads each of them the
way its scheme means, repairs what BIO cannot mean, and says in words what it repaired.

A tag is "O", a prefix letter and a type joined by "-" or "_" ("B-PER", "I_LOC", "S-ORG"), or a
bare type ("PER"), which reads as I-PER: a bare type is the IO scheme's way of writing a tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from ftstudio.engine.errors import DatasetError

OUTSIDE = "O"
SCHEMES = ("BIO", "IOB1", "BIOES", "IO")
# Other names the same schemes go by; BILOU is BIOES with other letters (U=S, L=E).
_ALIASES = {"IOB2": "BIO", "BILOU": "BIOES", "IOBES": "BIOES"}
# BILOU letters read as their BIOES twins, so the rest of the module knows B, I, E, S only.
_PREFIX_LETTERS = {"B": "B", "I": "I", "E": "E", "S": "S", "U": "S", "L": "E"}
# How many row numbers a repair note names before "...".
_ROWS_SHOWN = 3


class _BadTag(ValueError):
    """A tag no scheme can read; turned into a DatasetError naming its row."""


@lru_cache(maxsize=65536)
def split_tag(tag: str) -> tuple[str, str]:
    """(prefix, type) of one tag: prefix "O" (type ""), "B", "I", "E" or "S"; BILOU's U and L come
    back as S and E, and a bare type as I. Cached: a dataset holds few distinct tags."""
    if not isinstance(tag, str):
        raise _BadTag(f"the tag {tag!r} is not text")
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if not tag.strip():
        raise _BadTag('an empty tag (a word with no entity needs "O")')
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in _PREFIX_LETTERS:
        return _PREFIX_LETTERS[tag[0]], tag[2:]
    return "I", tag


def _parse_rows(sequences: Iterable[Sequence[str]]) -> Iterator[list[tuple[str, str]]]:
    for row, tags in enumerate(sequences):
        try:
            yield [split_tag(tag) for tag in tags]
        except _BadTag as error:
            raise DatasetError(f"Row {row + 1} of the tags has {error}: fix that row's tags.") from None


def detect_scheme(sequences: list[list[str]]) -> str:
    """The scheme these tag sequences are written in: "BIOES" when any tag has an S-/E- prefix
    (or BILOU's U-/L-); "IO" when no tag has B- but some have I- (or are bare types); "IOB1" when
    B- follows only a tag of the same type (it only separates two touching entities) and more
    entities open with I- than there are B- tags; otherwise "BIO"."""
    b_tags = i_openings = 0
    has_inside = False
    b_only_between_same_type = True
    for parsed in _parse_rows(sequences):
        previous_type = None  # the type of the previous tag; None outside an entity
        for prefix, entity_type in parsed:
            if prefix in "ES":
                return "BIOES"
            if prefix == OUTSIDE:
                previous_type = None
                continue
            if prefix == "B":
                b_tags += 1
                b_only_between_same_type &= previous_type == entity_type
            else:
                has_inside = True
                i_openings += previous_type != entity_type
            previous_type = entity_type
    if b_tags == 0:
        return "IO" if has_inside else "BIO"
    return "IOB1" if b_only_between_same_type and i_openings > b_tags else "BIO"


def _scheme_name(scheme: str) -> str:
    name = str(scheme).strip().upper()
    name = _ALIASES.get(name, name)
    if name not in SCHEMES:
        raise DatasetError(f"Unknown tag scheme '{scheme}': use one of {', '.join(SCHEMES)} (or IOB2, BILOU).")
    return name


class _Repairs:
    """Counts one kind of repair: how many entities, and which rows (numbered from 1)."""

    def __init__(self) -> None:
        self.count = 0
        self.rows: list[int] = []

    def add(self, row: int) -> None:
        self.count += 1
        if not self.rows or self.rows[-1] != row + 1:
            self.rows.append(row + 1)

    def words(self, what: str, remedy: str) -> str | None:
        if not self.count:
            return None
        shown = ", ".join(str(row) for row in self.rows[:_ROWS_SHOWN])
        more = ", ..." if len(self.rows) > _ROWS_SHOWN else ""
        rows = f"row{'s' if len(self.rows) > 1 else ''} {shown}{more}"
        entities = "entity" if self.count == 1 else "entities"
        return f"{self.count} {entities} {what} ({rows}): {remedy}"


def _bio_row(parsed: list[tuple[str, str]], row: int, openings: _Repairs | None,
             unclosed: _Repairs | None) -> list[str]:
    """One row in BIO. An I-/E- that does not continue an open entity of its type opens one (B-);
    `openings` counts those where that is a repair (None where the scheme means it). With
    `unclosed` (BIOES) E-/S- close an entity, and a B-/I- entity that nothing closes is counted."""
    out: list[str] = []
    open_type: str | None = None  # the type of the entity an I- may continue; None when closed
    for prefix, entity_type in parsed:
        if unclosed is not None and open_type is not None and (
                prefix in "OBS" or entity_type != open_type):
            unclosed.add(row)
        if prefix == OUTSIDE:
            out.append(OUTSIDE)
            open_type = None
            continue
        if prefix in "BS" or open_type != entity_type:
            if prefix not in "BS" and openings is not None:
                openings.add(row)
            out.append(f"B-{entity_type}")
        else:
            out.append(f"I-{entity_type}")
        # Only BIOES closes an entity at a tag; elsewhere the next I- of the type may continue it.
        open_type = None if unclosed is not None and prefix in "ES" else entity_type
    if unclosed is not None and open_type is not None:
        unclosed.add(row)
    return out


def to_bio(sequences: list[list[str]], scheme: str) -> tuple[list[list[str]], list[str]]:
    """Every tag sequence converted from `scheme` to BIO, and the repairs made, in words.

    IOB1 and IO entities open with I-, which becomes B-; BIOES/BILOU S-/U- become B- and E-/L-
    become I-. Well-formed input keeps its entity spans exactly. What BIO cannot mean is repaired
    and reported with counts and the first row numbers (from 1): an I- that opens an entity (at
    the start, after O or after another type) in BIO or BIOES reads as B-, and in BIOES an entity
    that no E-/S- closes ends at its last tagged word."""
    name = _scheme_name(scheme)
    counts_openings = name in ("BIO", "BIOES")
    openings = _Repairs() if counts_openings else None
    unclosed = _Repairs() if name == "BIOES" else None
    converted = [_bio_row(parsed, row, openings, unclosed) for row, parsed in enumerate(_parse_rows(sequences))]
    notes = []
    if openings is not None:
        opened_with = "I- or E-" if name == "BIOES" else "I-"
        instead_of = "B- or S-" if name == "BIOES" else "B-"
        notes.append(openings.words(f"opened with {opened_with} instead of {instead_of}", "read as B-"))
    if unclosed is not None:
        notes.append(unclosed.words("not closed by E- or S-", "read as ending at the last word tagged with its type"))
    return converted, [note for note in notes if note]


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of one BIO tag sequence as (type, start, end exclusive), in order, by seqeval's
    strict IOB2 rule: B-X and the I-X tags right after it. An I-X that does not continue an entity
    of type X is no entity (convert with `to_bio` first to read it as one)."""
    spans: list[tuple[str, int, int]] = []
    open_type: str | None = None
    start = 0
    for index, tag in enumerate(tags):
        try:
            prefix, entity_type = split_tag(tag)
        except _BadTag as error:
            raise DatasetError(f"Cannot read entities from {error}.") from None
        if prefix == "I" and entity_type == open_type:
            continue
        if open_type is not None:
            spans.append((open_type, start, index))
        open_type = None
        if prefix == "B":
            open_type, start = entity_type, index
        elif prefix in "ES":
            raise DatasetError(f"The tag '{tag}' is not BIO: convert the tags with to_bio first.")
    if open_type is not None:
        spans.append((open_type, start, len(tags)))
    return spans


def type_order(entity_type: str) -> tuple[str, str]:
    """Sort key of entity types: case-insensitive, ties broken by the exact spelling."""
    return entity_type.casefold(), entity_type


def bio_label_names(types_or_tags: Iterable[str]) -> list[str]:
    """The BIO label list for these entity types or tags (of any scheme): "O" first, then B-X and
    I-X for each type X, types sorted case-insensitively."""
    types = set()
    for item in types_or_tags:
        try:
            prefix, entity_type = split_tag(item)
        except _BadTag as error:
            raise DatasetError(f"Cannot use {error} as an entity type or tag.") from None
        if prefix != OUTSIDE:
            types.add(entity_type)
    return [OUTSIDE] + [f"{prefix}-{entity_type}" for entity_type in sorted(types, key=type_order)
                        for prefix in "BI"]
