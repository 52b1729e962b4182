"""Lineage: which run a checkpoint belongs to, and the chain from a run back to its base model,
read from the run folders alone (no model loaded), with deleted runs, loops and links."""

from __future__ import annotations

import os
import shutil

import pytest

from ftstudio.engine.runs import lineage as lin
from tests.engine.runs.run_folders import make_run


def test_run_of_checkpoint_knows_best_last_and_step_folders_only(tmp_path):
    run = make_run(tmp_path, "p", task="pretrain", checkpoints=("best", "last", "checkpoints/step-20"))
    assert lin.run_of_checkpoint(run / "best") == run.absolute()
    assert lin.run_of_checkpoint(str(run / "last") + "/") == run.absolute()
    assert lin.run_of_checkpoint(run / "checkpoints" / "step-20") == run.absolute()
    plain = tmp_path / "models" / "best"  # a folder named best outside any run
    plain.mkdir(parents=True)
    for other in ("default", "", None, "bert-base-uncased", plain, tmp_path / "p" / "nothing", run,
                  tmp_path / "gone" / "best"):
        assert lin.run_of_checkpoint(other) is None, other


def test_run_of_checkpoint_follows_links(tmp_path):
    run = make_run(tmp_path / "runs", "p", task="pretrain")
    link = tmp_path / "my-domain-model"
    try:
        os.symlink(run / "best", link)
    except OSError:
        pytest.skip("no symbolic links here")
    assert lin.run_of_checkpoint(link) == run.resolve()
    chain = lin.lineage(make_run(tmp_path / "runs", "f", model=str(link)))
    assert chain[0].kind == lin.RUN and chain[0].name == "p"


def test_a_run_from_a_base_model_has_the_base_alone(tmp_path):
    chain = lin.lineage(make_run(tmp_path, "f"))
    assert [(a.kind, a.name) for a in chain] == [(lin.BASE, "all-MiniLM-L6-v2 (embedded default)")]
    assert not lin.started_from_run(chain)
    assert lin.describe_lineage(chain) == "fine-tuned from all-MiniLM-L6-v2 (embedded default)"
    hub = lin.lineage(make_run(tmp_path, "h", task="pretrain", model="google-bert/bert-base-uncased"))
    assert lin.describe_lineage(hub, "pretrain") == "continued pre-training of google-bert/bert-base-uncased"


def test_fine_tune_of_a_pretraining_run(tmp_path):
    pre = make_run(tmp_path, "2026-11-29_1830_pretrain", task="pretrain", data="/texts/corpus.txt")
    fine = make_run(tmp_path, "fine", model=str(pre / "best"))
    chain = lin.lineage(fine)
    assert [a.kind for a in chain] == [lin.RUN, lin.BASE]
    run = chain[0]
    assert (run.run_dir, run.checkpoint, run.task, run.title, run.data, run.status) == (
        pre.absolute(), pre / "best", "pretrain", "Continued pre-training", "/texts/corpus.txt", "finished")
    assert lin.started_from_run(chain)
    assert lin.describe_lineage(chain) == (
        "fine-tuned from run 2026-11-29_1830_pretrain (continued pre-training on corpus.txt) "
        "<- all-MiniLM-L6-v2 (embedded default)")


def test_three_generations_and_a_checkpoint_other_than_best(tmp_path):
    first = make_run(tmp_path, "a", task="pretrain", model="roberta-base", data="/t/web.txt",
                     checkpoints=("best", "checkpoints/step-20"))
    second = make_run(tmp_path, "b", task="pretrain", model=str(first / "checkpoints" / "step-20"),
                      data="/t/tickets.txt", checkpoints=("best", "last", "checkpoints/step-20"))
    third = make_run(tmp_path, "c", model=str(second / "last"), status="stopped")
    chain = lin.lineage(make_run(tmp_path, "d", model=str(third / "best")))
    assert [(a.kind, a.name) for a in chain] == [(lin.RUN, "c"), (lin.RUN, "b"), (lin.RUN, "a"),
                                                 (lin.BASE, "roberta-base")]
    assert chain[0].status == "stopped" and chain[1].checkpoint == second / "last"
    text = lin.describe_lineage(chain)
    assert "run b (continued pre-training on tickets.txt, its last checkpoint)" in text
    assert "run a (continued pre-training on web.txt, its step-20 checkpoint) <- roberta-base" in text


def test_a_deleted_ancestor_is_shown_gone_not_an_error(tmp_path):
    pre = make_run(tmp_path, "pre", task="pretrain")
    fine = make_run(tmp_path, "fine", model=str(pre / "best"))
    shutil.rmtree(pre)
    chain = lin.lineage(fine)
    assert [(a.kind, a.name) for a in chain] == [(lin.GONE, "pre")]
    assert lin.started_from_run(chain)
    assert lin.describe_lineage(chain) == f"fine-tuned from run pre (run folder gone: {pre.absolute()})"
    assert lin.parent_run_id(str(pre / "best")) == "pre"


def test_a_run_whose_settings_are_unreadable_reads_its_checkpoint(tmp_path):
    pre = make_run(tmp_path, "pre", task="pretrain", model="distilroberta-base")
    fine = make_run(tmp_path, "fine", model=str(pre / "best"))
    (pre / "settings.json").write_text("{torn", encoding="utf-8")
    chain = lin.lineage(fine)
    assert [(a.kind, a.title) for a in chain] == [(lin.RUN, "Continued pre-training"), (lin.BASE, "")]
    assert chain[1].name == "distilroberta-base"  # from the checkpoint's task state
    # No settings.json: not a run folder any more, but the checkpoint still says what it is.
    (pre / "settings.json").unlink()
    chain = lin.lineage(fine)
    assert [(a.kind, a.name) for a in chain] == [(lin.CHECKPOINT, "best"), (lin.BASE, "distilroberta-base")]


def test_a_checkpoint_copied_out_of_its_run_names_its_base(tmp_path):
    pre = make_run(tmp_path / "runs", "pre", task="pretrain", model="default")
    copy = tmp_path / "models" / "domain-minilm"
    shutil.copytree(pre / "best", copy)
    chain = lin.lineage(make_run(tmp_path / "runs", "fine", model=str(copy)))
    assert [a.kind for a in chain] == [lin.CHECKPOINT, lin.BASE]
    assert lin.describe_ancestor(chain[0]) == f"checkpoint domain-minilm (continued pre-training, {copy})"


def test_a_loop_ends_the_chain(tmp_path):
    a = make_run(tmp_path, "a", task="pretrain", model=str(tmp_path / "b" / "best"))
    make_run(tmp_path, "b", task="pretrain", model=str(a / "best"))
    chain = lin.lineage(a)
    assert [a.name for a in chain] == ["b"]  # b's parent is a itself: not listed again
    self_loop = make_run(tmp_path, "s", task="pretrain", model=str(tmp_path / "s" / "best"))
    assert lin.lineage(self_loop) == []


def test_a_missing_base_folder_and_an_unreadable_run(tmp_path):
    chain = lin.lineage(make_run(tmp_path, "f", model=str(tmp_path / "old-model")))
    assert chain[0].kind == lin.BASE and chain[0].missing
    assert "folder gone" in lin.describe_lineage(chain)
    assert lin.lineage(tmp_path / "not-a-run") == []


def test_which_checkpoint_a_fine_tune_starts_from(tmp_path):
    done = make_run(tmp_path, "done", task="pretrain")
    assert lin.finetune_checkpoint(done, "finished", "pretrain") == done / "best"
    only_last = make_run(tmp_path, "only-last", task="pretrain", checkpoints=("last",))
    assert lin.finetune_checkpoint(only_last, "finished", "pretrain") == only_last / "last"
    assert lin.finetune_checkpoint(only_last, "stopped", "pretrain") is None  # stopped: best/ only
    assert lin.finetune_checkpoint(done, "stopped", "pretrain") == done / "best"
    assert lin.finetune_checkpoint(done, "failed", "pretrain") is None
    assert lin.finetune_checkpoint(make_run(tmp_path, "cls"), "finished", "single-label") is None


def test_settings_for_a_fine_tune_from_a_checkpoint(tmp_path):
    from ftstudio.engine.settings import TrainSettings

    pre = make_run(tmp_path, "pre", task="pretrain")
    pretraining = TrainSettings().replace(task="pretrain", metric_for_best="perplexity", learning_rate=1e-4)
    settings = lin.finetune_settings(pretraining, pre / "best")
    assert (settings.model, settings.task, settings.metric_for_best, settings.learning_rate) == (
        str(pre / "best"), "auto", "auto", 1e-4)
    chosen = TrainSettings().replace(task="regression", metric_for_best="rmse")
    assert lin.finetune_settings(chosen, pre / "best").task == "regression"  # a fine-tune task is kept
    assert lin.describe_checkpoint(pre / "best") == "run pre's best/"
    assert lin.describe_checkpoint(tmp_path / "plain") == str(tmp_path / "plain")
