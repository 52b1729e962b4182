"""`ftstudio runs`: a run started from another run says so in the list, and `ftstudio runs RUN`
shows one run with its lineage back to the base model (run folders made by hand)."""

from __future__ import annotations

import json
import shutil

from ftstudio.cli.main import main
from tests.engine.runs.run_folders import make_run


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _chain(runs_dir):
    pre = make_run(runs_dir, "20261129-1830-pretrain", task="pretrain", data="/texts/corpus.txt", created=1.0)
    fine = make_run(runs_dir, "20261129-1900-fine", model=str(pre / "best"), created=2.0)
    return pre, fine


def test_the_list_marks_runs_started_from_another_run(capsys, runs_dir):
    pre, fine = _chain(runs_dir)
    code, out, err = run_cli(capsys, "runs")
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "from 20261129-1830-pretrain / tweets.csv" in lines[fine.name]
    assert "from " not in lines[pre.name] and "default / corpus.txt" in lines[pre.name]
    code, out, _ = run_cli(capsys, "runs", "--json")
    listed = {r["run_dir"]: r for r in json.loads(out)}
    assert listed[str(fine)]["parent_run"] == pre.name and listed[str(pre)]["parent_run"] is None


def test_one_run_in_full_with_its_lineage(capsys, runs_dir):
    pre, fine = _chain(runs_dir)
    code, out, err = run_cli(capsys, "runs", "20261129-1900")  # the start of an id is enough
    assert code == 0, err
    assert ("Lineage:     fine-tuned from run 20261129-1830-pretrain (continued pre-training on corpus.txt) "
            "<- all-MiniLM-L6-v2 (embedded default)") in out
    assert "Fine-tune from it" not in out  # a classifier, not a pre-training run
    code, out, err = run_cli(capsys, "runs", str(pre))  # a folder works too
    assert code == 0, err
    assert "Task:        Continued pre-training" in out
    assert "Lineage:     continued pre-training of all-MiniLM-L6-v2 (embedded default)" in out
    assert f"Fine-tune from it: ftstudio train --model {pre / 'best'} --data LABELLED_DATA" in out
    code, out, _ = run_cli(capsys, "runs", fine.name, "--json")
    shown = json.loads(out)
    assert [a["kind"] for a in shown["lineage"]] == ["run", "base"]


def test_a_deleted_parent_and_unknown_or_ambiguous_names(capsys, runs_dir):
    pre, fine = _chain(runs_dir)
    shutil.rmtree(pre)
    code, out, err = run_cli(capsys, "runs")
    assert code == 0 and "from 20261129-1830-pretrain" in out  # the marker stays: the id is in the path
    code, out, err = run_cli(capsys, "runs", fine.name)
    assert code == 0 and f"(run folder gone: {pre})" in out
    code, _, err = run_cli(capsys, "runs", "nothing-like-it")
    assert code == 2 and "No run 'nothing-like-it'" in err and len(err.strip().splitlines()) == 1
    make_run(runs_dir, "20261129-1930-other")
    code, _, err = run_cli(capsys, "runs", "20261129-19")
    assert code == 2 and "matches 2 runs" in err
