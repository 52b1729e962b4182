"""`ftstudio predict` on pre-training runs: the guesses for each mask, a decoder's continuation
and next-token probabilities, JSON lines, and bad inputs in one line with exit status 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run_cli
from tests.language_models import MASKED_PROMPT, build_causal_lm, build_masked_lm, write_pretrain_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-lm")
    base = build_masked_lm(root / "mlm-base")
    encoder = write_pretrain_run(root / "runs", build_masked_lm(root / "mlm", teach=True), str(base), "masked")
    decoder = write_pretrain_run(root / "runs", build_causal_lm(root / "clm", teach=True), "default", "causal",
                                 name="20260101-130000-clm")
    return {"encoder": encoder, "decoder": decoder}


def test_masked_run_prints_candidates_with_probabilities(capsys, runs):
    code, out, err = run_cli(capsys, "predict", str(runs["encoder"]), MASKED_PROMPT, "--top-k", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == MASKED_PROMPT
    assert lines[1].split()[0] == "great" and lines[1].endswith("%")
    assert len([line for line in lines if line.endswith("%")]) == 3
    assert lines[-1] == "  best: the flight was great today"


def test_several_masks_and_json_lines(capsys, runs):
    code, out, err = run_cli(capsys, "predict", str(runs["encoder"]), "the [MASK] was <mask> today",
                             MASKED_PROMPT, "--json", "--top-k", "2")
    assert code == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert len(first["masks"]) == 2 and all(len(m) == 2 for m in first["masks"])
    assert second["masks"][0][0] == {"token": "great", "score": pytest.approx(second["masks"][0][0]["score"]),
                                      "sequence": "the flight was great today"}
    code, out, _ = run_cli(capsys, "predict", str(runs["encoder"]), "the [MASK] was [MASK] today", "--top-k", "1")
    assert "mask 1 of 2:" in out and "mask 2 of 2:" in out


def test_decoder_run_prints_continuation_and_next_tokens(capsys, runs):
    code, out, err = run_cli(capsys, "predict", str(runs["decoder"]), "the flight", "--top-k", "2")
    assert code == 0, err
    assert out.splitlines()[:3] == ["the flight", '  continuation: " was great and the crew was lovely"',
                                    "  next token:"]
    assert out.splitlines()[3].split()[0] == '"' and out.splitlines()[3].split()[1] == 'was"'
    code, out, _ = run_cli(capsys, "predict", str(runs["decoder"]), "the flight", "--json", "--max-new-tokens", "2")
    answer = json.loads(out)
    assert answer["continuation"] == " was great" and len(answer["next_tokens"]) == 10


def test_texts_from_stdin(capsys, monkeypatch, runs):
    monkeypatch.setattr("sys.stdin", io.StringIO(MASKED_PROMPT + "\n\nthe [MASK] was great today\n"))
    code, out, _ = run_cli(capsys, "predict", str(runs["encoder"]), "-", "--json")
    assert code == 0 and len(out.splitlines()) == 2


@pytest.mark.parametrize(("args", "needle"), [
    (["the flight was great today"], "type [MASK]"),
    ([MASKED_PROMPT, "--pair", "other"], "--pair"),
    (["--file", "data.csv"], "does not exist"),
    ([MASKED_PROMPT, "--top-k", "0"], "--top-k"),
])
def test_bad_inputs_are_one_line_and_exit_2(capsys, runs, args, needle):
    code, out, err = run_cli(capsys, "predict", str(runs["encoder"]), *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in out + err


def test_decoder_given_an_empty_text_is_one_line(capsys, runs):
    code, _, err = run_cli(capsys, "predict", str(runs["decoder"]), " ")
    assert code == 2 and "beginning of a text" in err and len(err.strip().splitlines()) == 1


def test_file_gives_the_perplexity_on_its_texts(capsys, runs, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("the flight was great and the crew was lovely\n\nthe plane was late\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "predict", str(runs["decoder"]), "--file", str(texts))
    assert code == 0, err
    assert out.startswith("Perplexity ") and "on 2 texts" in out and out.rstrip().endswith("from texts.txt")
    code, out, _ = run_cli(capsys, "predict", str(runs["decoder"]), "--file", str(texts), "--json")
    result = json.loads(out)
    assert result["rows"] == 2 and result["perplexity"] > 1 and 0 <= result["token_accuracy"] <= 1
    table = tmp_path / "table.csv"
    table.write_text("text,label\na,b\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "predict", str(runs["encoder"]), "--file", str(table))
    assert code == 2 and "not plain text" in err and len(err.strip().splitlines()) == 1
