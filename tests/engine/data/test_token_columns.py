"""Token data in other shapes than CoNLL (JSONL lists, Parquet with ClassLabel tags, Hub-like
columns): finding the words and tags columns, recognising token data, and reading its rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftstudio.engine.data.columns import DataColumns
from ftstudio.engine.data.sources import load_raw_with_notes, resolve_data_source
from ftstudio.engine.data.token_columns import detect_token_columns, looks_like_token_data, token_rows
from ftstudio.engine.errors import DatasetError

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
WORDS = [["John", "Smith", "lives", "here"], ["Paris", "is", "big"]]
TAGS = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "O", "O"]]


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf-datasets"))


def load(path: Path):
    return load_raw_with_notes(resolve_data_source(str(path)), None)[0]["train"]


def table(**columns):
    import datasets

    return datasets.Dataset.from_dict(columns)


def ids(tags: list[list[str]]) -> list[list[int]]:
    return [[NAMES.index(tag) for tag in row] for row in tags]


def test_jsonl_with_token_and_tag_lists(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"id": i, "tokens": w, "tags": t}) + "\n"
                            for i, (w, t) in enumerate(zip(WORDS, TAGS))))
    dataset = load(path)
    assert looks_like_token_data(dataset)
    columns = detect_token_columns(dataset, None, None)
    assert columns == DataColumns("tokens", ("tags",))
    assert token_rows(dataset, columns) == (WORDS, TAGS, [])


def test_conll_file_is_token_data(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("John B-PER\nSmith I-PER\n\nParis B-LOC\n")
    dataset = load(path)
    assert looks_like_token_data(dataset)
    assert detect_token_columns(dataset, None, None) == DataColumns("tokens", ("tags",))


def test_parquet_with_classlabel_tags_gives_tag_names(tmp_path):
    import datasets

    features = datasets.Features({"words": datasets.Sequence(datasets.Value("string")),
                                  "ner": datasets.Sequence(datasets.ClassLabel(names=NAMES))})
    datasets.Dataset.from_dict({"words": WORDS, "ner": ids(TAGS)}, features=features).to_parquet(tmp_path / "d.parquet")
    dataset = load(tmp_path / "d.parquet")
    assert looks_like_token_data(dataset)
    columns = detect_token_columns(dataset, None, None)
    assert columns == DataColumns("words", ("ner",))
    assert token_rows(dataset, columns) == (WORDS, TAGS, [])


def test_hub_like_columns_take_the_entity_tags():
    import datasets

    features = datasets.Features({"id": datasets.Value("string"),
                                  "tokens": datasets.Sequence(datasets.Value("string")),
                                  "pos_tags": datasets.Sequence(datasets.ClassLabel(names=["NN", "VB", "DT", "JJ"])),
                                  "chunk_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-NP", "I-NP"])),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NAMES))})
    dataset = datasets.Dataset.from_dict({"id": ["0", "1"], "tokens": WORDS, "pos_tags": [[0, 0, 1, 2], [0, 1, 3]],
                                          "chunk_tags": [[1, 2, 0, 0], [1, 0, 0]], "ner_tags": ids(TAGS)},
                                         features=features)
    assert detect_token_columns(dataset, None, None) == DataColumns("tokens", ("ner_tags",))
    assert detect_token_columns(dataset, None, "pos_tags") == DataColumns("tokens", ("pos_tags",))


def test_columns_found_by_content_when_names_say_nothing():
    dataset = table(kind=["a", "b"], w=WORDS, t=TAGS, other=[["x"], ["y", "z"]])
    assert detect_token_columns(dataset, None, None) == DataColumns("w", ("t",))
    assert detect_token_columns(dataset, "w", None) == DataColumns("w", ("t",))
    assert detect_token_columns(dataset, None, "t") == DataColumns("w", ("t",))


def test_given_columns_must_be_lists():
    dataset = table(text=["John Smith lives here", "Paris is big"], tokens=WORDS, tags=TAGS, n=[1, 2])
    with pytest.raises(DatasetError, match=r"tokens column 'text' holds text, not lists of words \(split each"):
        detect_token_columns(dataset, "text", None)
    with pytest.raises(DatasetError, match="tags column 'n' holds numbers, not lists of tags"):
        detect_token_columns(dataset, None, "n")
    with pytest.raises(DatasetError, match="'nope' is not in the data"):
        detect_token_columns(dataset, None, "nope")
    with pytest.raises(DatasetError, match="both 'tokens'"):
        detect_token_columns(dataset, "tokens", "tokens")


def test_refusals_when_no_column_fits():
    with pytest.raises(DatasetError, match=r"No column holds lists of words.*text \(text\), label \(text\)"):
        detect_token_columns(table(text=["a b", "c"], label=["x", "y"]), None, None)
    with pytest.raises(DatasetError, match="No column holds a list of tags, one per word of 'tokens'"):
        detect_token_columns(table(tokens=WORDS, label=["x", "y"]), None, None)
    with pytest.raises(DatasetError, match="No column holds a list of tags"):
        detect_token_columns(table(w=WORDS, t=[["a"], ["b"]]), None, None)  # lengths do not pair


def test_looks_like_token_data_only_for_paired_lists():
    assert not looks_like_token_data(table(text=["a b", "c"], label=["x", "y"]))
    assert not looks_like_token_data(table(text=["a b", "c"], labels=[["x", "y"], ["z"]]))  # multi-label
    assert not looks_like_token_data(table(tokens=WORDS, labels=[["x"], ["y", "z"]]))
    assert not looks_like_token_data(table(tokens=[[], []], tags=[[], []]))
    assert looks_like_token_data(table(tokens=WORDS, tags=ids(TAGS)))
    # a few broken rows among many do not hide what the data is
    assert looks_like_token_data(table(tokens=WORDS * 10 + [["a", "b"]], tags=TAGS * 10 + [["O"]]))


def test_ints_without_names_ask_for_names():
    dataset = table(tokens=WORDS, tags=ids(TAGS))
    columns = detect_token_columns(dataset, None, None)
    with pytest.raises(DatasetError, match="holds numbers without names: give the tag names"):
        token_rows(dataset, columns)
    assert token_rows(dataset, columns, names=NAMES) == (WORDS, TAGS, [])


def test_unequal_lengths_and_broken_rows_are_dropped_and_reported():
    words = [*WORDS, ["a", "b"], [], ["c", "d"], ["e", " "], ["f"], ["g", "h"], ["i"], ["j"], ["k"], ["l"], ["m"]]
    tags = [*TAGS, ["O"], [], ["O", "O"], ["O", "O"], [""], ["O"], ["O", "O"], ["O", "O"], ["O", "O"], ["O", "O"],
            ["O", "O"]]
    tokens, named, problems = token_rows(table(tokens=words, tags=tags), DataColumns("tokens", ("tags",)))
    assert tokens == [*WORDS, ["c", "d"]] and named == [*TAGS, ["O", "O"]]
    assert problems == [
        "Dropped 7 rows whose number of tags differs from their number of words (rows 3, 8, 9, 10, 11, ...; "
        "row 3 has 2 words and 1 tag).",
        "Dropped 1 row without words (row 4).",
        "Dropped 1 row with a missing, blank or non-text word (row 6).",
        "Dropped 1 row with a missing or blank tag (row 7).",
    ]


def test_missing_values_and_tag_numbers_outside_the_names():
    import datasets

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.ClassLabel(names=NAMES))})
    dataset = datasets.Dataset.from_dict({"tokens": [["a", None], None, ["b"], ["c"]], "tags": [[0, 0], [0], [-1], [1]]},
                                         features=features)
    tokens, tags, problems = token_rows(dataset, DataColumns("tokens", ("tags",)))
    assert (tokens, tags) == ([["c"]], [["B-PER"]])
    assert problems == ["Dropped 1 row with a missing, blank or non-text word (row 1).",
                        "Dropped 1 row without words (row 2).",
                        "Dropped 1 row with a missing or blank tag (row 3)."]
    plain = table(tokens=[["a"], ["b"]], tags=[[7], [1]])
    assert token_rows(plain, DataColumns("tokens", ("tags",)), names=NAMES) == (
        [["b"]], [["B-PER"]], ["Dropped 1 row with a tag number outside the tag names (row 1)."])


def test_nothing_left_is_refused_in_words():
    with pytest.raises(DatasetError, match=r"No usable rows.*Dropped 2 rows whose number of tags differs"):
        token_rows(table(tokens=WORDS, tags=[["O"], ["O"]]), DataColumns("tokens", ("tags",)))
    with pytest.raises(DatasetError, match="one tags column, not 2"):
        token_rows(table(tokens=WORDS, tags=TAGS, more=TAGS), DataColumns("tokens", ("tags", "more")))
