"""Listing past runs: summaries follow every change on disk, yet unchanged runs are not re-read
(the window lists the runs each time one changes state while a run trains)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftstudio.engine.runs import folder as runs
from ftstudio.engine.runs import listing
from ftstudio.engine.runs import lock as run_lock


def _make_run(runs_dir: Path, name: str, created: float) -> Path:
    run_dir = runs_dir / name
    run_dir.mkdir(parents=True)
    runs.write_settings(run_dir, {"model": "m", "data": "d", "metric_for_best": "accuracy"}, {"created": created})
    runs.write_status(run_dir, "finished", "", 4)
    runs.append_metric(run_dir, {"event": "info", "total_steps": 4})
    runs.append_metric(run_dir, {"event": "eval", "split": "validation", "step": 4, "accuracy": 0.5})
    return run_dir


@pytest.fixture
def counted_reads(monkeypatch):
    """How many times each run's metrics log was parsed."""
    reads: dict[str, int] = {}
    parse = runs.read_metrics

    def counting(run_dir):
        reads[Path(run_dir).name] = reads.get(Path(run_dir).name, 0) + 1
        return parse(run_dir)

    monkeypatch.setattr(listing, "read_metrics", counting)
    return reads


def test_unchanged_runs_are_not_re_read_and_changes_are_seen(tmp_path, counted_reads):
    first = _make_run(tmp_path, "20261122-100000-a", created=1.0)
    second = _make_run(tmp_path, "20261122-110000-b", created=2.0)
    listed = listing.list_runs(tmp_path)
    assert [r.run_id for r in listed] == [second.name, first.name]  # newest first
    assert counted_reads == {first.name: 1, second.name: 1}

    listing.list_runs(tmp_path)
    assert counted_reads == {first.name: 1, second.name: 1}  # nothing changed: nothing parsed

    runs.append_metric(second, {"event": "eval", "split": "validation", "step": 8, "accuracy": 0.75})
    runs.write_status(first, "stopped", "Stopped by the user.", 4)
    by_id = {r.run_id: r for r in listing.list_runs(tmp_path)}
    assert counted_reads == {first.name: 2, second.name: 2}
    assert (by_id[second.name].step, by_id[second.name].best_value) == (8, 0.75)
    assert (by_id[first.name].status, by_id[first.name].message) == ("stopped", "Stopped by the user.")


def test_a_summary_handed_out_cannot_change_the_remembered_one(tmp_path):
    run_dir = _make_run(tmp_path, "20261122-100000-a", created=1.0)
    listing.summarize_run(run_dir).status = "edited by a caller"
    assert listing.summarize_run(run_dir).status == "finished"


def test_a_run_left_training_by_a_dead_process_reads_interrupted_even_when_cached(tmp_path):
    run_dir = _make_run(tmp_path, "20261122-100000-a", created=1.0)
    runs.write_status(run_dir, "training", "", 3)
    if not run_lock.locks_supported():
        pytest.skip("no run lock on this platform")
    lock = run_lock.RunLock(run_dir)
    lock.acquire()
    try:
        assert listing.summarize_run(run_dir).status == "training"  # a live process holds it
    finally:
        lock.release()
    summary = listing.summarize_run(run_dir)  # same files, read from memory: liveness asked again
    assert summary.status == "interrupted" and "step 3" in summary.message


def test_a_deleted_or_damaged_run_drops_out_of_the_list(tmp_path):
    kept = _make_run(tmp_path, "20261122-100000-a", created=1.0)
    damaged = _make_run(tmp_path, "20261122-110000-b", created=2.0)
    assert len(listing.list_runs(tmp_path)) == 2
    (damaged / runs.SETTINGS_FILE).write_text(json.dumps({"no": "settings"}), encoding="utf-8")
    assert [r.run_dir for r in listing.list_runs(tmp_path)] == [kept]
    listing.delete_run(kept)
    assert listing.list_runs(tmp_path) == []
