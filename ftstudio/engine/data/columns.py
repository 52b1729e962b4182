"""Finding the text and label columns, and turning label values into class ids.

Detection prefers conventional names (text/sentence/..., label/sentiment/...) and falls back on
what the values look like: the text is the string column with the longest texts, the label a
low-cardinality column that is not the text. Refusals name the columns so the user can pick the
right ones with `text_column` / `label_column`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

TEXT_NAMES = ("text", "sentence", "review", "content", "tweet", "comment", "body", "document",
              "utterance", "question")
LABEL_NAMES = ("label", "labels", "sentiment", "class", "target", "category", "y", "intent", "emotion",
               "airline_sentiment")
SCORE_NAMES = ("score", "rating", "stars", "value", "target", "label", "y", "similarity", "sentiment_score",
               "relatedness_score")
_SAMPLE_ROWS = 2000  # rows inspected to judge a column's kind and text length
# A number as text, with a decimal point or a decimal comma (as Excel writes it in many locales).
NUMBER = re.compile(r"^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?\s*$")
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
# '1.0', '0.00', '1,0' (a decimal comma, as Excel writes in many locales): a whole number as a decimal.
_WHOLE_DECIMAL = re.compile(r"^\s*[+-]?\d+[.,]0*\s*$")


def label_limit(rows: int) -> int:
    """Most distinct values a label column may have before it looks like ids or free text."""
    return min(1000, max(20, rows // 2))


def column_kind(feature: Any) -> str:
    """'classlabel', 'string', 'int', 'float', 'bool', 'lists', 'records' or 'other' for a datasets feature."""
    import datasets

    if isinstance(feature, datasets.ClassLabel):
        return "classlabel"
    if isinstance(feature, (list, datasets.Sequence, datasets.List, datasets.LargeList)):
        return "lists"
    if isinstance(feature, dict):
        return "records"
    if not isinstance(feature, datasets.Value):
        return "other"
    dtype = str(feature.dtype)
    if dtype in ("string", "large_string"):
        return "string"
    if dtype == "bool":
        return "bool"
    if dtype.startswith(("int", "uint")):
        return "int"
    if dtype.startswith("float") or dtype.startswith("double"):
        return "float"
    return "other"


def _sample(dataset: datasets.Dataset, column: str) -> list[Any]:
    return dataset.select_columns([column])[:_SAMPLE_ROWS][column]


def _holds_numbers(dataset: datasets.Dataset, column: str) -> bool:
    """A numeric column, or a string column whose every value is a number (e.g. ids)."""
    kind = column_kind(dataset.features[column])
    if kind in ("int", "float", "bool", "classlabel"):
        return True
    if kind != "string":
        return False
    values = [v for v in _sample(dataset, column) if isinstance(v, str) and v.strip()]
    return bool(values) and all(NUMBER.match(v) for v in values)


def _show(name: Any) -> str:
    """A column name or label as one line: a file's header may hold newlines or tabs, and every
    message must stay one line (the CLI prints it as such)."""
    return str(name).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _describe(dataset: datasets.Dataset) -> str:
    """'a (string), b (int)': kinds as the user would call them (numeric strings are numbers)."""

    def kind(column: str) -> str:
        found = column_kind(dataset.features[column])
        return "numbers" if found == "string" and _holds_numbers(dataset, column) else found

    return ", ".join(f"{_show(c)} ({kind(c)})" for c in dataset.column_names)


def _by_name(columns: list[str], preferred: tuple[str, ...]) -> str | None:
    lowered = {c.lower(): c for c in reversed(columns)}  # first column wins on case clashes
    for name in preferred:
        if name in lowered:
            return lowered[name]
    return None


def _check_exists(dataset: datasets.Dataset, column: str | None, what: str) -> None:
    if column is not None and column not in dataset.column_names:
        raise DatasetError(
            f"The {what} column '{_show(column)}' is not in the data; its columns are "
            f"{', '.join(map(_show, dataset.column_names))}."
        )


# Column pairs that conventionally hold the two texts of a pair task (GLUE, NLI, QA matching).
PAIR_NAMES = (("sentence1", "sentence2"), ("premise", "hypothesis"), ("question1", "question2"),
              ("text_a", "text_b"), ("text1", "text2"), ("query", "passage"), ("question", "answer"),
              ("tweet", "statement"))  # (the last: the embedded pairs sample)


@dataclass(frozen=True)
class DataColumns:
    """The columns a task reads: the text, the optional second text of a pair, and the label
    column(s) (several only for multi-label 0/1 columns)."""

    text: str
    labels: tuple[str, ...]
    text_pair: str | None = None

    @property
    def label(self) -> str:
        """The label column(s) as the user writes them: 'label', or 'toxic,insult,threat'."""
        return ",".join(self.labels)

    @property
    def used(self) -> list[str]:
        return [self.text, *([self.text_pair] if self.text_pair else []), *self.labels]


def split_label_columns(dataset: datasets.Dataset, label_column: str | None) -> list[str] | None:
    """'toxic,insult,threat' as three columns (when it is not itself a column's name); each must exist."""
    if not label_column:
        return None
    if label_column in dataset.column_names or "," not in label_column:
        _check_exists(dataset, label_column, "label")
        return [label_column]
    parts = [part.strip() for part in label_column.split(",") if part.strip()]
    for part in parts:
        _check_exists(dataset, part, "label")
    if len(set(parts)) != len(parts):
        raise DatasetError(f"The label columns '{_show(label_column)}' name a column twice.")
    return parts


def detect_columns(dataset: datasets.Dataset, text_column: str | None = None, label_column: str | None = None,
                   text_pair_column: str | None = None, scores: bool = False) -> DataColumns:
    """The text, pair and label columns: the user's choices validated, the rest detected (with
    `scores`, the label is a numeric column: a regression's target)."""
    text_column = text_column or None
    text_pair_column = text_pair_column or None
    labels = split_label_columns(dataset, label_column)
    _check_exists(dataset, text_column, "text")
    _check_exists(dataset, text_pair_column, "second text")
    if text_column is None and text_pair_column is None:
        text_column, text_pair_column = _named_pair(dataset, labels)
    taken = set(labels or ()) | ({text_pair_column} if text_pair_column else set())
    if text_column is None:
        text_column = _detect_text(dataset, exclude=taken)
    else:
        _check_text(dataset, text_column, "text")
    if text_pair_column is not None:
        _check_text(dataset, text_pair_column, "second text")
        if text_pair_column == text_column:
            raise DatasetError(f"The text and the second text column are both '{_show(text_column)}'; choose two "
                               "different columns.")
    if labels is None:
        exclude = {text_column, text_pair_column}
        labels = [_detect_score(dataset, exclude) if scores else _detect_label(dataset, exclude)]
    clash = next((c for c in labels if c in (text_column, text_pair_column)), None)
    if clash is not None:
        raise DatasetError(
            f"The text and the label column are both '{_show(clash)}'; choose different columns "
            f"(columns: {_describe(dataset)})."
        )
    return DataColumns(text_column, tuple(labels), text_pair_column)


def detect_text_column(dataset: datasets.Dataset, text_column: str | None = None) -> str:
    """The text column alone (pre-training reads no labels): the user's choice validated, else
    detected as for every task."""
    if text_column:
        _check_exists(dataset, text_column, "text")
        _check_text(dataset, text_column, "text")
        return text_column
    return _detect_text(dataset, exclude=set())


def _named_pair(dataset: datasets.Dataset, labels: list[str] | None) -> tuple[str | None, str | None]:
    """Two columns conventionally named as a pair's texts (sentence1/sentence2, premise/hypothesis, ...)."""
    lowered = {c.lower(): c for c in reversed(dataset.column_names) if c not in (labels or ())}
    for first, second in PAIR_NAMES:
        if first in lowered and second in lowered:
            pair = (lowered[first], lowered[second])
            if all(column_kind(dataset.features[c]) == "string" and not _holds_numbers(dataset, c) for c in pair):
                return pair
    return None, None


def _check_text(dataset: datasets.Dataset, column: str, what: str) -> None:
    if all(is_blank(v) for v in _sample(dataset, column)):  # (a blank column reads as numbers: all NaN)
        raise DatasetError(f"The {what} column '{_show(column)}' is empty; choose a column that holds text "
                           f"(columns: {_describe(dataset)}).")
    if column_kind(dataset.features[column]) != "string" or _holds_numbers(dataset, column):
        raise DatasetError(
            f"The {what} column '{_show(column)}' holds {_what_it_holds(dataset, column)}, not text; "
            f"choose a text column (columns: {_describe(dataset)})."
        )


def _what_it_holds(dataset: datasets.Dataset, column: str) -> str:
    kind = column_kind(dataset.features[column])
    if kind in ("lists", "records"):
        return f"{kind} (one text per row is needed)"
    return "numbers" if kind in ("int", "float", "bool", "classlabel", "string") else "values of another kind"


def _detect_text(dataset: datasets.Dataset, exclude: set[str]) -> str:
    # A column named like a label (label, sentiment, ...) is never taken for the text.
    candidates = [c for c in dataset.column_names
                  if c not in exclude and c.lower() not in LABEL_NAMES
                  and column_kind(dataset.features[c]) == "string" and not _holds_numbers(dataset, c)]
    if not candidates:
        lists = any(column_kind(dataset.features[c]) == "lists" for c in dataset.column_names)
        hint = " (a text column holds one string per row, not a list: join each list into one text)" if lists else ""
        raise DatasetError(
            f"No column holds text; columns are {_describe(dataset)}{hint}. Check the file, or choose the text column."
        )
    named = _by_name(candidates, TEXT_NAMES)
    if named is not None:
        return named

    def mean_length(column: str) -> float:
        values = [len(v) for v in _sample(dataset, column) if isinstance(v, str)]
        return float(np.mean(values)) if values else 0.0

    return max(candidates, key=mean_length)  # max() keeps the first of equals: column order


def label_candidates(dataset: datasets.Dataset, exclude: str | None) -> list[tuple[int, str]]:
    """(distinct values, column) of columns that could hold class labels, fewest values first."""
    limit = label_limit(len(dataset))
    found = []
    for position, column in enumerate(dataset.column_names):
        kind = column_kind(dataset.features[column])
        if column == exclude or kind not in ("classlabel", "string", "int", "bool", "float"):
            continue
        try:
            values = [v for v in dataset.unique(column) if not is_blank(v)]
        except Exception:  # unhashable or odd types: not a label column
            continue
        if kind == "float" and not all(float(v).is_integer() for v in values):
            continue  # 1.0/0.0 (a blank cell makes pandas read 1/0 as floats) are classes; 0.37 is not
        distinct = len(values)
        if 2 <= distinct <= limit and not (distinct == len(dataset) >= 3):  # a value per row: ids
            rank = 0 if kind == "classlabel" else 1
            found.append((rank, distinct, position, column))
    return [(distinct, column) for _, distinct, _, column in sorted(found)]


def is_blank(value: Any) -> bool:
    """No value: None, NaN (a blank cell of a numeric column) or only whitespace."""
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())


def _detect_label(dataset: datasets.Dataset, exclude: set[str | None]) -> str:
    others = [c for c in dataset.column_names if c not in exclude]
    named = _by_name(others, LABEL_NAMES)
    if named is not None:
        return named
    candidates = [(n, c) for n, c in label_candidates(dataset, None) if c not in exclude]
    scores = [c for c in others if column_kind(dataset.features[c]) == "float" and _holds_numbers(dataset, c)]
    if not candidates and scores:
        raise DatasetError(
            f"The only label-like column, '{_show(scores[0])}', holds fractions: that looks like a score, not classes. "
            "Train a regression (--task regression; the window proposes it), or choose the label column."
        )
    if not candidates:
        raise DatasetError(
            f"No column looks like class labels; columns are {_describe(dataset)}. Choose the label column."
        )
    return candidates[0][1]


def _detect_score(dataset: datasets.Dataset, exclude: set[str | None]) -> str:
    """A regression's target: a numeric column named like one, else the first with fractions,
    else the first numeric column."""
    # A column named like a score is taken even when a cell holds text: the row is refused in words.
    named = _by_name([c for c in dataset.column_names if c not in exclude], SCORE_NAMES)
    if named is not None:
        return named
    numeric = [c for c in dataset.column_names if c not in exclude and _holds_numbers(dataset, c)
               and column_kind(dataset.features[c]) != "bool"]
    if not numeric:
        raise DatasetError(
            f"No column holds numbers to learn as scores; columns are {_describe(dataset)}. Choose the label column."
        )
    fractional = [c for c in numeric if column_kind(dataset.features[c]) == "float"]
    return (fractional or numeric)[0]


# ------------------------------------------------------------------ label encoding
def encode_labels(train: datasets.Dataset, column: str,
                  values: dict[str, list[Any]]) -> tuple[list[str], dict[str, np.ndarray]]:
    """Label names and integer ids per split; refuses one-class, id-like and unseen labels."""
    import datasets

    feature = train.features[column]
    if isinstance(feature, datasets.ClassLabel):
        names = list(feature.names)
        encoded = {split: _class_ids(vals, names, column, split) for split, vals in values.items()}
        _check_classes(train, column, [names[i] for i in np.unique(encoded["train"])], len(encoded["train"]))
        return names, encoded
    keys = _whole_numbers_as_integers({split: label_keys(vals, column) for split, vals in values.items()})
    present = sorted(set(keys["train"]), key=name_order(keys["train"]))
    _check_classes(train, column, present, len(keys["train"]))
    index = {name: i for i, name in enumerate(present)}
    encoded = {}
    for split, split_keys in keys.items():
        unseen = next((k for k in split_keys if k not in index), None)
        if unseen is not None:
            raise DatasetError(
                f"The {split} split has label '{unseen}', which never occurs in train; every class needs "
                f"training rows (train has: {_short(present)})."
            )
        encoded[split] = np.array([index[k] for k in split_keys], dtype=np.int64)
    return present, encoded


def _class_ids(vals: list[Any], names: list[str], column: str, split: str) -> np.ndarray:
    ids = np.array(vals, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= len(names)):
        bad = int(ids[(ids < 0) | (ids >= len(names))][0])
        raise DatasetError(f"The {split} split has label id {bad} in '{column}', outside its {len(names)} classes.")
    return ids


def label_keys(vals: list[Any], column: str) -> list[str]:
    """Each label as its name: strings as they are, integers (also 1.0) as '1', booleans as 'True'."""
    keys = []
    for value in vals:
        if isinstance(value, bool) or isinstance(value, str):
            keys.append(str(value))
        elif isinstance(value, (int, np.integer)):
            keys.append(str(int(value)))
        elif isinstance(value, (float, np.floating)):
            if not float(value).is_integer():
                raise DatasetError(
                    f"The label column '{column}' holds decimal numbers ({value}); classification needs "
                    "categories: choose another label column, or train a regression (--task regression)."
                )
            keys.append(str(int(value)))
        else:
            raise DatasetError(
                f"The label column '{column}' holds {type(value).__name__} values; single-label classification "
                "needs one label per row: use the multi-label task (--task multi-label), or choose another column."
            )
    return keys


def _whole_numbers_as_integers(keys: dict[str, list[str]]) -> dict[str, list[str]]:
    """Labels written '1.0'/'0.0' or '1,0' (a column read as text) are the classes '1' and '0', as they are
    when the column is read as numbers; only when every label of every split is such a number."""
    every = [k for split_keys in keys.values() for k in split_keys]
    if not any(_WHOLE_DECIMAL.match(k) for k in every):
        return keys
    if not all(_WHOLE_DECIMAL.match(k) or _INTEGER.match(k) for k in every):
        return keys
    return {split: [str(int(re.split(r"[.,]", k.strip())[0])) for k in split_keys] for split, split_keys in keys.items()}


def name_order(keys: list[str]):
    """Sort numerically when every name is an integer ('2' < '10'), else alphabetically."""
    if keys and all(_INTEGER.match(k) for k in keys):
        return lambda k: (int(k), k)
    return lambda k: k


def _short(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"'{_show(n)}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_classes(train: datasets.Dataset, column: str, present: list[str], rows: int) -> None:
    """At least two classes, and not so many that the column is clearly ids or free text."""
    if len(present) < 2:
        only = f"only '{_show(present[0])}'" if present else "no labels"
        raise DatasetError(
            f"Classification needs at least 2 classes; column '{_show(column)}' has {only}. "
            "Choose another label column or add rows of other classes."
        )
    every_row_its_own = len(present) == rows and rows >= 3
    if len(present) > label_limit(rows) or every_row_its_own:
        others = [c for _, c in label_candidates(train, exclude=None) if c != column]
        hint = f"; did you mean {', '.join(repr(c) for c in others[:3])}?" if others else "."
        how_many = (f"{len(present)} distinct values in {rows} rows" if len(present) > label_limit(rows)
                    else f"a different value in every one of its {rows} rows")
        raise DatasetError(
            f"The label column '{_show(column)}' has {how_many}: it looks like ids or free text, not classes. "
            f"Choose the label column{hint}"
        )
