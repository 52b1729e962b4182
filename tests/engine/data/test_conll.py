"""CoNLL files (a token and its tag per line, a blank line between sentences) read through the
ordinary data entry points: single files, folders of splits, zips, and .txt files of that shape."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from ftstudio.engine.data.conll import conll_sentences, looks_like_conll, read_conll
from ftstudio.engine.data.sources import load_raw_with_notes, resolve_data_source
from ftstudio.engine.errors import DatasetError

TWO = "EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\n\nPeter\tB-PER\nBlackburn\tI-PER\n"
TWO_ROWS = {"tokens": [["EU", "rejects", "German"], ["Peter", "Blackburn"]],
            "tags": [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]}
CONLL2003 = ("-DOCSTART- -X- -X- O\n\n"
             "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
             "-DOCSTART- -X- -X- O\n\n"
             "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n")


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf-datasets"))


def load(path: Path) -> tuple[dict, list[str]]:
    return load_raw_with_notes(resolve_data_source(str(path)), None)


def rows(dataset) -> dict[str, list[list[str]]]:
    return {"tokens": dataset["tokens"], "tags": dataset["tags"]}


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


@pytest.mark.parametrize("suffix", [".conll", ".iob", ".iob2", ".bio", ".bioes"])
def test_tab_separated_file_gives_tokens_and_tags_columns(tmp_path, suffix):
    import datasets

    splits, notes = load(write(tmp_path / f"train{suffix}", TWO))
    assert list(splits) == ["train"] and notes == []
    assert rows(splits["train"]) == TWO_ROWS
    string_lists = datasets.Sequence(datasets.Value("string"))
    assert splits["train"].features == datasets.Features({"tokens": string_lists, "tags": string_lists})


def test_spaces_trailing_whitespace_and_no_final_blank_line(tmp_path):
    text = "EU   B-ORG  \nrejects O \t\nGerman B-MISC\n \n\t\n\n\nPeter B-PER\nBlackburn    I-PER"
    splits, _ = load(write(tmp_path / "d.conll", text))
    assert rows(splits["train"]) == TWO_ROWS


def test_conll2003_columns_take_the_first_and_last_field_and_skip_docstart(tmp_path):
    splits, _ = load(write(tmp_path / "eng.conll", CONLL2003))
    assert rows(splits["train"]) == TWO_ROWS


def test_a_tab_separated_token_may_hold_spaces(tmp_path):
    splits, _ = load(write(tmp_path / "d.conll", "New York\tB-LOC\nis\tO\n"))
    assert splits["train"]["tokens"] == [["New York", "is"]]


def test_windows_line_endings_and_byte_order_mark(tmp_path):
    splits, notes = load(write(tmp_path / "d.conll", "\ufeff" + TWO, encoding="utf-8", newline="\r\n"))
    assert rows(splits["train"]) == TWO_ROWS and notes == []


def test_latin1_file_is_read_and_noted(tmp_path):
    splits, notes = load(write(tmp_path / "d.conll", "Müller\tB-PER\nsagt\tO\n\nZürich\tB-LOC\n", encoding="latin-1"))
    assert splits["train"]["tokens"] == [["Müller", "sagt"], ["Zürich"]]
    assert any("Latin-1" in note and "d.conll" in note for note in notes)


def test_a_line_with_one_field_is_refused_with_file_and_line(tmp_path):
    path = write(tmp_path / "bad.conll", "EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\nBlackburn\n")
    with pytest.raises(DatasetError, match=r"bad\.conll line 5 has a token without a tag \('Blackburn'\)"):
        load(path)


@pytest.mark.parametrize("text, words", [("", "empty"), ("  \n\n", "empty"),
                                         ("-DOCSTART- -X- -X- O\n\n\n", "no sentences")])
def test_a_file_without_sentences_is_refused(tmp_path, text, words):
    with pytest.raises(DatasetError, match=words):
        load(write(tmp_path / "d.conll", text))


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "d.conll"
    path.write_bytes(b"\x00\x01\x02EU\tO\n")
    with pytest.raises(DatasetError, match="binary"):
        load(path)


@pytest.mark.parametrize("suffix", [".conll", ".txt"])
def test_folder_with_train_dev_test_files(tmp_path, suffix):
    for name in ("train", "dev", "test"):
        write(tmp_path / f"{name}{suffix}", TWO)
    splits, notes = load(tmp_path)
    assert sorted(splits) == ["test", "train", "validation"]
    assert all(rows(split) == TWO_ROWS for split in splits.values())
    assert any("as CoNLL" in note for note in notes) == (suffix == ".txt")


@pytest.mark.parametrize("member", ["train.conll", "train.txt"])
def test_zip_holding_one_conll_file(tmp_path, member):
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, CONLL2003)
    splits, _ = load(path)
    assert rows(splits["train"]) == TWO_ROWS


def test_a_bad_line_inside_a_zip_names_the_member(tmp_path):
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train.conll", "EU\tB-ORG\nrejects\n")
    with pytest.raises(DatasetError, match=r"train\.conll in data\.zip line 2"):
        load(path)


def test_gzip_compressed_conll(tmp_path):
    path = tmp_path / "d.conll.gz"
    path.write_bytes(gzip.compress(TWO.encode()))
    splits, _ = load(path)
    assert rows(splits["train"]) == TWO_ROWS


def test_txt_of_conll_shape_is_read_as_conll(tmp_path):
    splits, notes = load(write(tmp_path / "ner.txt", CONLL2003))
    assert rows(splits["train"]) == TWO_ROWS
    assert notes == ["Read ner.txt as CoNLL: a token and its tag per line."]


@pytest.mark.parametrize("text", ["text\tlabel\ngreat movie\tpos\nawful film\tneg\nfine\tpos\n",
                                  "text,label\ngreat movie,pos\nawful film,neg\nfine,pos\n",
                                  "text\tlabel\ngreat\tpos\nawful\tneg\nfine\tpos\nbad\tneg\n"])
def test_txt_tables_keep_todays_reading(tmp_path, text):
    splits, notes = load(write(tmp_path / "d.txt", text))
    assert splits["train"].column_names == ["text", "label"] and notes == []


def test_a_split_mixing_conll_and_table_txt_files_is_refused(tmp_path):
    write(tmp_path / "train-1.txt", TWO)
    write(tmp_path / "train-2.txt", "text\tlabel\ngreat movie\tpos\n")
    with pytest.raises(DatasetError, match="one shape"):
        load(tmp_path)


def test_a_changed_file_is_read_again(tmp_path):
    path = write(tmp_path / "d.conll", TWO)
    assert load(path)[0]["train"]["tokens"][0] == ["EU", "rejects", "German"]
    write(path, "Paris\tB-LOC\n")
    assert load(path)[0]["train"]["tokens"] == [["Paris"]]


def test_sentences_are_streamed(tmp_path):
    """The first sentence comes out before a bad line further down is read: nothing is held whole."""
    path = write(tmp_path / "d.conll", "EU\tB-ORG\n\n" + "word\tO\n" * 1000 + "\nbroken\n")
    sentences = conll_sentences(path)
    assert next(sentences) == (["EU"], ["B-ORG"])
    assert len(next(sentences)[0]) == 1000
    with pytest.raises(DatasetError, match="line 1004"):
        next(sentences)


def test_read_conll_reads_several_files_of_one_split(tmp_path):
    first, second = write(tmp_path / "a.conll", TWO), write(tmp_path / "b.conll", "Paris\tB-LOC\n")
    dataset, notes = read_conll([first, second])
    assert dataset["tokens"] == [*TWO_ROWS["tokens"], ["Paris"]] and notes == []


@pytest.mark.parametrize("head", [
    TWO, CONLL2003, "\n\nEU B-ORG\nrejects O\n\nPeter B_PER\n",
    "John\tB-PER\nSmith\tI-PER\nsaid\tO\n",  # one sentence: scheme tags tell it apart
    "The DT\ncat NN\nsat VBD\n. .\n\nIt PRP\nran VBD\n",  # POS tags, punctuation and all
    "Peter\tPER\nBlackburn\tPER\n\nParis\tLOC\n",  # IO tags: bare types
    "EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\nBlackb",  # a head cut mid-line
])
def test_looks_like_conll(head):
    assert looks_like_conll(head)


@pytest.mark.parametrize("head", [
    "", "EU\tB-ORG\n",
    "text\tlabel\ngreat movie\tpos\nawful film\tneg\n",
    "text\tlabel\ngreat\tpos\nawful\tneg\nfine\tpos\n",  # single words, no sentences, no scheme tags
    "text,label\ngreat movie,pos\nawful film,neg\n",
    "The cat sat on the mat.\n\nIt was happy about it all.\nThen it left.\n",  # prose
    "id,text,label\n1,hello,pos\n\n2,bye,neg\n",
])
def test_does_not_look_like_conll(head):
    assert not looks_like_conll(head)


def test_multiconer_comment_lines_are_not_words(tmp_path):
    from ftstudio.engine.data.conll import read_conll

    path = tmp_path / "train.conll"
    path.write_text("# id 5f3a domain=en\nAda _ _ B-PER\nsings _ _ O\n\n# id 77b domain=en\n# _ _ O\nhi _ _ O\n\n",
                    encoding="utf-8")
    dataset, _notes = read_conll([path])
    assert dataset["tokens"] == [["Ada", "sings"], ["#", "hi"]]
    assert dataset["tags"] == [["B-PER", "O"], ["O", "O"]]
