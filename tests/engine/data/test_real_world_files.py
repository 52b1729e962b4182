"""Files users really have (issue 15): odd but valid, each must train without complaint.

Each test writes one such file and checks what `prepare_data` makes of it: the texts, the label
names and the notes. One end-to-end CLI run trains a tiny model on a few of them together.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import importlib.util
import io
import json
import lzma
import zipfile
from pathlib import Path

import pytest

from ftstudio.cli.main import main
from ftstudio.engine.data.prepare import prepare_data
from ftstudio.engine.settings import TrainSettings
from tests.engine.data.workbooks import write_xlsx
from tests.engine.test_bad_inputs import fail_after

ROWS = [(f"good words {i}", "pos") if i % 2 else (f"bad words {i}", "neg") for i in range(40)]


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf-datasets"))


def _prepare(path: Path, **settings):
    with fail_after(60, path.name):
        return prepare_data(TrainSettings(data=str(path), **settings))


def _all_texts(prepared) -> list[str]:
    return [t for split in prepared.splits.values() for t in split["text"]]


def _csv(rows, sep=",", newline="\n", header=("text", "label")) -> str:
    """CSV text as a spreadsheet writes it: quoted where needed, `sep` between fields."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def test_semicolons_byte_order_mark_and_crlf(tmp_path):
    path = tmp_path / "excel-export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(ROWS, sep=";", newline="\r\n").encode("utf-8"))
    prepared = _prepare(path)
    assert (prepared.text_column, prepared.label_column) == ("text", "label")  # no BOM stuck to 'text'
    assert prepared.label_names == ["neg", "pos"]
    assert sorted(_all_texts(prepared)) == sorted(t for t, _ in ROWS)  # no '\r' left on any text


def test_quoted_texts_spanning_lines(tmp_path):
    path = tmp_path / "multiline.csv"
    path.write_text('text,label\n"first line\nsecond line, with a comma and ""quotes""",pos\n' + _csv(ROWS)[11:],
                    encoding="utf-8")
    prepared = _prepare(path)
    assert 'first line\nsecond line, with a comma and "quotes"' in _all_texts(prepared)
    assert sum(len(s) for s in prepared.splits.values()) == len(ROWS) + 1


@pytest.mark.parametrize("name", ["data.csv.gz", "data.csv.bz2", "data.csv.xz", "data.jsonl.gz", "data.csv.zip",
                                  "data.zip"])
def test_compressed_files(tmp_path, name):
    path = tmp_path / name
    if ".jsonl" in name:
        content = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in ROWS).encode()
    else:
        content = _csv(ROWS).encode()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("inner/data.csv", content)
            archive.writestr("__MACOSX/inner/._data.csv", b"\x00\x05\x16\x07 resource fork")  # macOS Finder's copy
    else:
        opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[path.suffix]
        with opener(path, "wb") as handle:
            handle.write(content)
    prepared = _prepare(path)
    assert prepared.label_names == ["neg", "pos"]
    assert sorted(_all_texts(prepared)) == sorted(t for t, _ in ROWS)


@pytest.mark.parametrize("kind", ["numeric column", "text column", "json strings"])
def test_labels_written_as_decimals_are_integer_classes(tmp_path, kind):
    values = [("1.0" if lab == "pos" else "0.0") for _, lab in ROWS]
    if kind == "json strings":
        path = tmp_path / "labels.jsonl"
        path.write_text("".join(json.dumps({"text": t, "label": v}) + "\n" for (t, _), v in zip(ROWS, values)))
    else:
        path = tmp_path / "labels.csv"
        rows = [(t, v) for (t, _), v in zip(ROWS, values)]
        if kind == "text column":  # a decimal comma (Excel in many locales), read as text, not numbers
            rows = [(t, v.replace(".", ",")) for t, v in rows]
            path.write_text(_csv(rows, sep=";"), encoding="utf-8")
        else:
            path.write_text(_csv(rows), encoding="utf-8")
    prepared = _prepare(path)
    assert prepared.label_names == ["0", "1"]
    labels = {t: prepared.label_names[lab] for split in prepared.splits.values()
              for t, lab in zip(split["text"], split["label"])}
    assert labels["good words 1"] == "1" and labels["bad words 0"] == "0"


def test_decimal_labels_with_blanks_under_another_name_are_found(tmp_path):
    """A blank cell makes pandas read 1/0 as 1.0/0.0 floats: still the label column, and the
    blank row is dropped and counted."""
    rows = [(t, 1 if lab == "pos" else 0) for t, lab in ROWS] + [("no label here", "")]
    path = tmp_path / "blanks.csv"
    path.write_text(_csv(rows, header=("Message", "Klasse")), encoding="utf-8")
    prepared = _prepare(path)
    assert (prepared.text_column, prepared.label_column) == ("Message", "Klasse")
    assert prepared.label_names == ["0", "1"]
    assert any("Dropped 1 row without a label" in note for note in prepared.notes)


def test_emoji_right_to_left_and_zero_width_characters(tmp_path):
    odd = ["I love it 😍🔥", "שלום עולם, טיסה נהדרת", "رحلة سيئة جدا", "zero\u200bwidth\u200djoiner\ufeff",
           "mixed \u202eright-to-left\u202c override", "👨‍👩‍👧 family emoji"]
    rows = [(f"{odd[i % len(odd)]} {i}", lab) for i, (_, lab) in enumerate(ROWS)]
    path = tmp_path / "unicode.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    prepared = _prepare(path)
    assert sorted(_all_texts(prepared)) == sorted(t for t, _ in rows)


def test_rows_without_a_label_are_dropped_and_counted(tmp_path):
    rows = [(t, "" if i % 10 == 0 else lab) for i, (t, lab) in enumerate(ROWS)]
    path = tmp_path / "gaps.csv"
    path.write_text(_csv(rows) + ",pos\n", encoding="utf-8")  # and one row without text
    prepared = _prepare(path)
    assert "Dropped 1 row with empty text and 4 rows without a label from the train split (36 rows left)." \
        in prepared.notes
    assert sum(len(s) for s in prepared.splits.values()) == 36


def test_column_names_with_spaces_and_non_ascii_letters(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text(_csv([(t, lab, i) for i, (t, lab) in enumerate(ROWS)],
                         header=("Texte du client", "Étiquette ✓", "Nº")), encoding="utf-8")
    prepared = _prepare(path, label_column="Étiquette ✓")
    assert (prepared.text_column, prepared.label_column) == ("Texte du client", "Étiquette ✓")
    assert prepared.label_names == ["neg", "pos"]
    chosen = _prepare(path, text_column="Texte du client", label_column="Étiquette ✓")
    assert chosen.label_names == ["neg", "pos"]


def test_extra_and_nested_json_fields_are_ignored(tmp_path):
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps({
        "id": i, "text": t, "meta": {"source": "app", "scores": [0.1, 0.9]}, "tags": ["a", "b"][: i % 3],
        "label": lab}) + "\n" for i, (t, lab) in enumerate(ROWS)), encoding="utf-8")
    prepared = _prepare(path)
    assert (prepared.text_column, prepared.label_column) == ("text", "label")
    assert prepared.label_names == ["neg", "pos"]


def test_a_single_huge_text(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text(_csv([("great " * 300_000, "pos"), *ROWS]), encoding="utf-8")
    prepared = _prepare(path)
    assert max(len(t) for t in _all_texts(prepared)) == len("great " * 300_000) - 1  # stripped, not cut here


@pytest.mark.skipif(importlib.util.find_spec("openpyxl") is None, reason="the optional excel extra (openpyxl)")
def test_an_excel_workbook_is_read_with_openpyxl(tmp_path):
    rows = [(t, 1 if lab == "pos" else 0) for t, lab in ROWS] + [("no label", None), (12345, 1)]
    path = write_xlsx(tmp_path / "book.xlsx", rows, header=("Texte client", "Étiquette"))
    prepared = _prepare(path)
    assert (prepared.text_column, prepared.label_column) == ("Texte client", "Étiquette")
    assert prepared.label_names == ["0", "1"]
    assert "12345" in _all_texts(prepared)  # a number typed in the text column is text
    assert any("Dropped 1 row without a label" in note for note in prepared.notes)


def test_an_excel_workbook_without_openpyxl_says_how_to_convert_it(tmp_path, monkeypatch):
    """Without the optional extra a real workbook is refused with both ways out (the test extra
    installs openpyxl, so its absence is simulated: a None entry makes the import fail)."""
    import sys

    from ftstudio.engine.errors import DatasetError

    monkeypatch.setitem(sys.modules, "openpyxl", None)
    path = write_xlsx(tmp_path / "book.xlsx", [(t, 1 if lab == "pos" else 0) for t, lab in ROWS])
    with pytest.raises(DatasetError) as refused:
        _prepare(path)
    assert "Save As > CSV" in str(refused.value) and "ftstudio[excel]" in str(refused.value)


def test_cli_trains_on_odd_files(capsys, tmp_path, tiny_model_dir, runs_dir):
    """End to end: a semicolon/BOM/CRLF CSV, gzip-compressed, with decimal labels, odd characters
    and a missing label, trains and predicts with the classes '0' and '1'."""
    from tests.conftest import make_texts

    rows = [(f"{t} 😀\u200b", "1.0" if lab == "positive" else "0.0") for t, lab in make_texts(60, classes=2)]
    rows[5] = (rows[5][0], "")
    path = tmp_path / "export.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"\xef\xbb\xbf" + _csv(rows, sep=";", newline="\r\n", header=("Kommentar", "Klasse")).encode())
    with fail_after(300, "train"):
        code = main(["train", "--model", str(tiny_model_dir), "--data", str(path), "--max-length", "32",
                     "--epochs", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    run = next(runs_dir.iterdir())
    config = json.loads((run / "best" / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["0", "1"]
