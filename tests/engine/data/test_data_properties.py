"""Property tests: column detection, stratified selection and the whole loader on random tables.

The loader's promise: any small table, written as CSV or JSONL, gives either a one-line
DatasetError or clean splits whose labels are in range and which together hold exactly the
usable rows (no row lost, none duplicated across splits).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ftstudio.engine.data.columns import detect_columns
from ftstudio.engine.data.prepare import prepare_data
from ftstudio.engine.data.splits import hold_out, subsample
from ftstudio.engine.errors import DatasetError
from ftstudio.engine.settings import TrainSettings

FAST = settings(max_examples=int(os.environ.get('FTSTUDIO_HYPOTHESIS_EXAMPLES', 40)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()

# Texts: mostly words with awkward characters (separators, quotes, newlines, accents, emoji),
# sometimes empty or blank so the cleaning path is exercised.
_chars = st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x1F600) | st.sampled_from(
    [",", ";", "\t", '"', "'", "\n", " "])
_texts = st.one_of(
    st.builds(lambda word, rest: word + rest, st.sampled_from(["good", "bad", "flight", "café", "ok"]),
              st.text(_chars, max_size=20)),
    st.sampled_from(["", "   "]),
)
_string_labels = st.sampled_from(["pos", "neg", "neu ", "NA", "null", "", None])
_int_labels = st.sampled_from([0, 1, 2, 10, None])


@st.composite
def tables(draw):
    """(rows, label kind) with rows as dicts text/label/extra."""
    labels = draw(st.sampled_from([_string_labels, _int_labels]))
    n = draw(st.integers(1, 40))
    rows = [{"text": draw(_texts), "label": draw(labels), "extra": draw(st.integers(0, 3))} for _ in range(n)]
    return rows


def _write(folder, rows, fmt):
    path = folder / f"t{next(_counter)}.{fmt}"
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label", "extra"])
            writer.writerows([r["text"], r["label"], r["extra"]] for r in rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _usable(rows):
    """What the loader should keep: stripped text, label as its name."""
    out = Counter()
    for row in rows:
        text, label = (row["text"] or "").strip(), row["label"]
        if text and label is not None and str(label).strip():
            out[(text, str(label).strip())] += 1
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    import datasets

    previous = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = str(tmp_path_factory.getbasetemp() / "hf-datasets")
    yield tmp_path_factory.mktemp("tables")
    datasets.config.HF_DATASETS_CACHE = previous


@FAST
@given(rows=tables(), fmt=st.sampled_from(["csv", "jsonl"]), test_split=st.sampled_from([0.0, 0.2]),
       seed=st.integers(0, 3))
def test_loader_gives_clean_error_or_valid_splits(folder, rows, fmt, test_split, seed):
    path = _write(folder, rows, fmt)
    expected = _usable(rows)
    classes = Counter(label for (_, label), n in expected.items() for _ in range(n))
    # Enough to train and hold out validation (and test): two classes, and a spare row (one that
    # is not its class's only row) for each held-out split.
    spare = sum(n - 1 for n in classes.values())
    should_work = len(classes) >= 2 and spare >= (2 if test_split else 1)
    try:
        prepared = prepare_data(TrainSettings(data=str(path), test_split=test_split, seed=seed))
    except DatasetError as error:
        event(f"refused: {str(error).split(':')[0][:40]}")
        assert "\n" not in str(error) and str(error)
        assert not should_work, f"refused good data: {error}"
        return
    event("prepared")
    names = prepared.label_names
    got = Counter()
    for split in prepared.splits.values():
        assert split.column_names == ["text", "label"]
        labels = split["label"][:]
        assert all(0 <= label < len(names) for label in labels)
        got.update((text, names[label]) for text, label in zip(split["text"][:], labels, strict=True))
    assert got == expected
    assert len(prepared.splits["validation"]) >= 1
    assert ("test" in prepared.splits) == (test_split > 0)
    # Every class seen in the data keeps a training row.
    assert set(prepared.splits["train"]["label"][:]) == {names.index(c) for c in classes}


_column_values = {
    "string": st.lists(st.text(min_size=0, max_size=12), min_size=4, max_size=4),
    "words": st.lists(st.sampled_from(["a b c", "hello there", "x"]), min_size=4, max_size=4),
    "int": st.lists(st.integers(-5, 5), min_size=4, max_size=4),
    "float": st.lists(st.floats(allow_nan=False), min_size=4, max_size=4),
}


@FAST
@given(columns=st.dictionaries(st.sampled_from(["text", "label", "Sentiment", "id", "body", "score", "y", "misc"]),
                               st.sampled_from(list(_column_values)), min_size=1, max_size=5),
       data=st.data(), override=st.booleans())
def test_detect_columns_returns_distinct_existing_columns_or_refuses(columns, data, override):
    import datasets

    table = {name: data.draw(_column_values[kind]) for name, kind in columns.items()}
    dataset = datasets.Dataset.from_dict(table)
    text_choice = data.draw(st.sampled_from(list(table))) if override else None
    try:
        found = detect_columns(dataset, text_column=text_choice)
        text, label = found.text, found.label
    except DatasetError as error:
        event(f"refused: {str(error)[:30]}")
        assert "\n" not in str(error)
        return
    event("detected")
    assert text in table and label in table and text != label
    assert dataset.features[text].dtype in ("string", "large_string")
    if text_choice is not None:
        assert text == text_choice


@settings(max_examples=100, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=200), fractions=st.sampled_from(
    [[0.1], [0.2, 0.1], [0.45]]), seed=st.integers(0, 2**32 - 1), cap=st.integers(1, 250))
def test_hold_out_and_subsample_partition(labels, fractions, seed, cap):
    labels = np.array(labels)
    parts = hold_out(labels, 5, fractions, seed)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(len(labels)))  # a partition of the rows
    assert set(labels[parts[0]].tolist()) == set(labels.tolist())  # every class keeps a row
    for part, fraction in zip(parts[1:], fractions, strict=True):
        assert len(part) <= max(1, round(len(labels) * fraction))
    assert [p.tolist() for p in hold_out(labels, 5, fractions, seed)] == [p.tolist() for p in parts]
    chosen = subsample(labels, 5, cap, seed)
    assert len(chosen) == min(cap, len(labels)) and len(set(chosen.tolist())) == len(chosen)
    if cap >= len(set(labels.tolist())):
        assert set(labels[chosen].tolist()) == set(labels.tolist())
