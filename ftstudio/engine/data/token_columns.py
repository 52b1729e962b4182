"""Token-classification data: finding its words and tags columns, and reading its rows.

Each row holds a list of words and a list of tags, one per word (CoNLL files are read into
"tokens" and "tags"; JSON, Parquet and Hub datasets bring their own names, such as ner_tags).
Detection prefers conventional names and falls back on what the lists hold: words vary, tags
repeat. `token_rows` turns tags into their names and drops, counting them in words, the rows a
model cannot learn from. Columns are reported as `DataColumns` (text = the words, labels = the tags).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftstudio.engine.data.columns import DataColumns, _by_name, _check_exists, _show, column_kind
from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets

TOKEN_NAMES = ("tokens", "words", "token", "sentence_tokens")
TAG_NAMES = ("tags", "ner_tags", "ner", "labels", "label", "pos_tags", "iob_tags")
TAGS_ONLY_NAMES = ("tags", "ner_tags", "ner", "pos_tags", "iob_tags")  # names nothing but tag lists use
_TAG_ITEMS = ("string", "int", "classlabel")
_LOOK_ROWS = 50  # rows compared to recognise token data
_SAMPLE_ROWS = 500  # rows whose items are counted to tell words from tags
_SHOWN_ROWS = 5  # row numbers named per kind of dropped row
_EXAMPLE = 'a list of words per row, like ["John", "lives", "here"], and a list of tags, one per word'


def item_kind(feature: Any) -> str | None:
    """For a list column, the kind of its items ('string', 'int', 'classlabel', ...; see `column_kind`);
    None for any other column."""
    if column_kind(feature) != "lists":
        return None
    if isinstance(feature, list):
        return column_kind(feature[0]) if len(feature) == 1 else None
    inner = getattr(feature, "feature", None)
    return column_kind(inner) if inner is not None else None


_HOLDS = {"string": "text", "classlabel": "classes", "records": "records", "int": "numbers", "float": "numbers",
          "bool": "numbers"}
_HOLDS_LISTS = {"string": "lists of text", "int": "lists of numbers", "float": "lists of decimals",
                "classlabel": "lists of classes"}


def _holds(dataset: datasets.Dataset, column: str) -> str:
    """What a column holds, as the user would say it."""
    feature = dataset.features[column]
    if column_kind(feature) != "lists":
        return _HOLDS.get(column_kind(feature), "values of another kind")
    return _HOLDS_LISTS.get(item_kind(feature) or "", "lists of other values")


def _describe(dataset: datasets.Dataset) -> str:
    return ", ".join(f"{_show(c)} ({_holds(dataset, c)})" for c in dataset.column_names)


def _check_words(dataset: datasets.Dataset, column: str) -> None:
    if item_kind(dataset.features[column]) != "string":
        hint = " (split each text into words, or use CoNLL files)" if _holds(dataset, column) == "text" else ""
        raise DatasetError(
            f"The tokens column '{_show(column)}' holds {_holds(dataset, column)}, not lists of words{hint}; "
            f"token classification needs {_EXAMPLE} (columns: {_describe(dataset)})."
        )


def _check_tags(dataset: datasets.Dataset, column: str) -> None:
    if item_kind(dataset.features[column]) not in _TAG_ITEMS:
        raise DatasetError(
            f"The tags column '{_show(column)}' holds {_holds(dataset, column)}, not lists of tags; "
            f"token classification needs {_EXAMPLE} (columns: {_describe(dataset)})."
        )


def detect_token_columns(dataset: datasets.Dataset, text_column: str | None = None,
                         label_column: str | None = None) -> DataColumns:
    """The words column (`DataColumns.text`) and the tags column (`DataColumns.labels[0]`): the
    user's choices checked to be list columns, the rest found by name, else by content."""
    text_column = text_column or None
    label_column = label_column or None
    _check_exists(dataset, text_column, "tokens")
    _check_exists(dataset, label_column, "tags")
    if text_column is not None:
        _check_words(dataset, text_column)
    if label_column is not None:
        _check_tags(dataset, label_column)
    if text_column is None:
        text_column = _detect_words(dataset, exclude=label_column)
    if label_column is None:
        label_column = _detect_tags(dataset, text_column)
    if text_column == label_column:
        raise DatasetError(f"The tokens and the tags column are both '{_show(text_column)}'; choose two different "
                           f"columns (columns: {_describe(dataset)}).")
    return DataColumns(text_column, (label_column,))


def _distinct_items(dataset: datasets.Dataset, column: str) -> int:
    rows = dataset.select_columns([column])[:_SAMPLE_ROWS][column]
    return len({item for row in rows if row for item in row})


def _detect_words(dataset: datasets.Dataset, exclude: str | None) -> str:
    candidates = [c for c in dataset.column_names if c != exclude and item_kind(dataset.features[c]) == "string"]
    named = _by_name(candidates, TOKEN_NAMES)
    if named is not None:
        return named
    # A column named like tags (ner_tags) is never taken for the words, and words vary more than tags.
    unnamed = [c for c in candidates if c.lower() not in TAG_NAMES]
    if not unnamed:
        raise DatasetError(f"No column holds lists of words; token classification needs {_EXAMPLE} "
                           f"(columns: {_describe(dataset)}). Choose the tokens column, or use CoNLL files.")
    return max(unnamed, key=lambda c: _distinct_items(dataset, c))  # max() keeps the first of equals


def _detect_tags(dataset: datasets.Dataset, words: str) -> str:
    candidates = [c for c in dataset.column_names if c != words and item_kind(dataset.features[c]) in _TAG_ITEMS]
    named = _by_name(candidates, TAG_NAMES)
    if named is not None:
        return named
    sample = dataset.select_columns([words, *candidates])[:_LOOK_ROWS]
    paired = [c for c in candidates if _same_lengths(sample[words], sample[c])]
    if not paired:
        raise DatasetError(
            f"No column holds a list of tags, one per word of '{_show(words)}'; token classification needs "
            f"{_EXAMPLE} (columns: {_describe(dataset)}). Choose the tags column."
        )
    # Classes declared as such first, then the column with the fewest distinct values: tags repeat.
    return min(paired, key=lambda c: (item_kind(dataset.features[c]) != "classlabel", _distinct_items(dataset, c)))


def _same_lengths(words: list[Any], tags: list[Any]) -> bool:
    """Whether rows pair one word with one tag: at least 90% of the compared rows (both lists present)
    do, and some row is not empty (a few broken rows are dropped later, in words)."""
    compared = [(len(w), len(t)) for w, t in zip(words, tags) if isinstance(w, list) and isinstance(t, list)]
    equal = sum(a == b for a, b in compared)
    return bool(compared) and any(a for a, _ in compared) and equal >= 0.9 * len(compared)


def looks_like_token_data(dataset: datasets.Dataset) -> bool:
    """Whether the data looks like token classification: a column of lists of strings (the words) and
    another list column (the tags) whose rows have the same lengths in the first rows, or list
    columns named as words and tags are (then rows of other lengths are token data with problems,
    which the token path reports row by row, not a classifier's data)."""
    features = dataset.features
    words = [c for c in dataset.column_names if item_kind(features[c]) == "string"]
    tags = [c for c in dataset.column_names if item_kind(features[c]) in _TAG_ITEMS]
    if not words or len(set(words) | set(tags)) < 2 or len(dataset) == 0:
        return False
    # ("labels" is not enough: a list of labels beside pre-split words may be multi-label data.)
    named_words = {c for c in words if c.lower() in TOKEN_NAMES}
    if named_words and any(c.lower() in TAGS_ONLY_NAMES and c not in named_words for c in tags):
        return True
    sample = dataset.select_columns(sorted(set(words) | set(tags)))[:_LOOK_ROWS]
    return any(_same_lengths(sample[w], sample[t]) for w in words for t in tags if t != w)


# ------------------------------------------------------------------ rows
_PROBLEMS = {
    "empty": "rows without words",
    "word": "rows with a missing, blank or non-text word",
    "tag": "rows with a missing or blank tag",
    "length": "rows whose number of tags differs from their number of words",
    "id": "rows with a tag number outside the tag names",
}


def token_rows(dataset: datasets.Dataset, columns: DataColumns,
               names: list[str] | None = None) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """The usable rows as (words, tags as names, problems): tags given as numbers become their names
    (a ClassLabel's, else `names`); rows that are empty, hold a missing or non-text word or a missing
    tag, or whose tags do not pair one to one with their words are dropped, and each kind is
    reported in one sentence with its count and first row numbers (counting from 1). Refuses when
    the tags are numbers without names, or when no row is left."""
    words_column, tags_column = _columns(dataset, columns)
    tag_names = _tag_names(dataset, tags_column, names)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    dropped: dict[str, list[int]] = {}
    example: dict[str, str] = {}
    row = 0
    for batch in dataset.select_columns([words_column, tags_column]).iter(batch_size=1000):
        for words, row_tags in zip(batch[words_column], batch[tags_column]):
            row += 1
            problem, named = _check_row(words, row_tags, tag_names)
            if problem is None:
                tokens.append(words)
                tags.append(named)
                continue
            dropped.setdefault(problem, []).append(row)
            if problem == "length" and problem not in example:
                example[problem] = f"row {row} has {_count(len(words), 'word')} and {_count(len(row_tags), 'tag')}"
    problems = [_problem_sentence(kind, rows, example.get(kind)) for kind, rows in dropped.items()]
    if not tokens:
        if not row:
            raise DatasetError("The token data has no rows.")
        raise DatasetError(f"No usable rows in the token data ('{_show(words_column)}', '{_show(tags_column)}'): "
                           + " ".join(problems))
    return tokens, tags, problems


def _columns(dataset: datasets.Dataset, columns: DataColumns) -> tuple[str, str]:
    if len(columns.labels) != 1:
        raise DatasetError(f"Token classification reads one tags column, not {len(columns.labels)} "
                           f"('{_show(columns.label)}').")
    words_column, tags_column = columns.text, columns.labels[0]
    _check_exists(dataset, words_column, "tokens")
    _check_exists(dataset, tags_column, "tags")
    _check_words(dataset, words_column)
    _check_tags(dataset, tags_column)
    return words_column, tags_column


def _tag_names(dataset: datasets.Dataset, column: str, names: list[str] | None) -> list[str] | None:
    """The names of numbered tags (None when the tags are text)."""
    kind = item_kind(dataset.features[column])
    if kind == "classlabel":
        return list(dataset.features[column].feature.names)
    if kind == "int":
        if not names:
            raise DatasetError(
                f"The tags column '{_show(column)}' holds numbers without names: give the tag names in id order "
                "(--tag-names O,B-PER,I-PER,...; in the window: Tag names), or write the tags as text such as "
                "B-PER, I-PER, O."
            )
        return [str(name) for name in names]
    return None


def _check_row(words: Any, tags: Any, names: list[str] | None) -> tuple[str | None, list[str]]:
    """(None, the tags as names) for a usable row, else (the kind of problem, [])."""
    if not words:
        return "empty", []
    if any(not isinstance(word, str) or not word.strip() for word in words):
        return "word", []
    if tags is None or any(tag is None or (isinstance(tag, str) and not tag.strip()) for tag in tags):
        return "tag", []
    if len(tags) != len(words):
        return "length", []
    if names is None:
        return None, [tag.strip() for tag in tags]
    if any(tag < 0 for tag in tags):
        return "tag", []  # -1 is how datasets marks a missing class (unlabelled test splits)
    if any(tag >= len(names) for tag in tags):
        return "id", []
    return None, [names[tag] for tag in tags]


def _count(number: int, what: str) -> str:
    return f"{number} {what}" if number == 1 else f"{number} {what}s"


def _problem_sentence(kind: str, rows: list[int], example: str | None) -> str:
    shown = ", ".join(map(str, rows[:_SHOWN_ROWS])) + (", ..." if len(rows) > _SHOWN_ROWS else "")
    what = _PROBLEMS[kind] if len(rows) > 1 else _PROBLEMS[kind].replace("rows", "row", 1)
    detail = f"; {example}" if example else ""
    return f"Dropped {len(rows)} {what} (row{'s' if len(rows) > 1 else ''} {shown}{detail})."

