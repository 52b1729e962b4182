"""`ftstudio train --task pretrain` and `ftstudio data --task pretrain` as a user types them."""

from __future__ import annotations

from tests.cli.test_cli import run_cli, tiny_args
from tests.language_models import write_corpus


def test_pretrain_from_the_command_line_reports_perplexity_before_and_after(capsys, tiny_model_dir, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    code, out, err = run_cli(capsys, "train", *tiny_args(tiny_model_dir, corpus), "--task", "pretrain",
                             "--whole-word-masking", "--mlm-probability", "0.2", "--output", str(tmp_path / "run"))
    assert code == 0, err
    assert "Objective: masked-language modelling (20% of tokens masked, whole words)." in out
    assert "has its masked-language-modelling head" in out
    assert "training texts" in out and "blocks" in out and ", labels:" not in out
    assert "validation @ step 0:" in out and "perplexity" in out
    assert "Best perplexity:" in out and (tmp_path / "run" / "best" / "config.json").is_file()


def test_data_summarises_texts_tokens_and_blocks(capsys, tiny_model_dir, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", lines=120)
    code, out, err = run_cli(capsys, "data", str(corpus), "--task", "pretrain", "--model", str(tiny_model_dir),
                             "--max-length", "32")
    assert code == 0, err
    assert "no labels: pre-training reads only the text" in out and "texts" in out
    assert "packed into about" in out and "blocks of 32 (nothing truncated)" in out
    code, out, err = run_cli(capsys, "data", str(corpus), "--task", "pretrain", "--model", str(tiny_model_dir),
                             "--max-length", "8", "--no-pack-texts")
    assert code == 0, err
    assert "one text per row" in out and "truncated at max_length 8" in out
