"""The pieces of a group run, one at a time and without starting processes: which group the
environment names, each rank's shard, stop and pause agreed across ranks, evaluation outputs
pooled, and what the launcher says about a process that died."""

from __future__ import annotations

import signal
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ftstudio.engine.distributed.control import OTHER_PROCESS, GroupControl
from ftstudio.engine.distributed.environment import launched_group
from ftstudio.engine.distributed.group import LOST_CONTACT, ProcessGroup
from ftstudio.engine.distributed.launch import _mark_failed, describe_failures
from ftstudio.engine.distributed.parallel import shard
from ftstudio.engine.errors import SettingsError, StopRequested
from ftstudio.engine.events import PAUSED, TrainingControl
from ftstudio.engine.runs.folder import read_status, write_status
from ftstudio.engine.training.collectors import LogitRows, TokenHits, TokenLogits


# ------------------------------------------------------------------ environment
def test_torchrun_variables_name_the_group():
    group = launched_group({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"})
    assert (group.rank, group.world_size, group.local_rank, group.local_world_size) == (3, 8, 1, 4)
    assert group.launcher == "torchrun" and not group.is_main


def test_a_world_of_one_and_no_variables_mean_alone():
    assert launched_group({}) is None
    assert launched_group({"RANK": "0", "WORLD_SIZE": "1"}) is None
    # inside an sbatch script SLURM_NTASKS is set, but only srun's steps are groups
    assert launched_group({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}) is None


def test_srun_tasks_join_with_the_head_node_exported():
    env = {"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4(x2)",
           "MASTER_ADDR": "node01", "MASTER_PORT": "29500"}
    group = launched_group(env)
    assert (group.rank, group.world_size, group.local_rank, group.local_world_size, group.launcher) == (
        5, 8, 1, 4, "srun")


def test_srun_without_the_head_node_is_refused_in_words():
    with pytest.raises(SettingsError, match="MASTER_ADDR and MASTER_PORT"):
        launched_group({"SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "2"})
    with pytest.raises(SettingsError, match="does not describe a process group"):
        launched_group({"RANK": "one", "WORLD_SIZE": "2"})


# ------------------------------------------------------------------ shards
def _group(rank: int, world: int) -> ProcessGroup:
    return ProcessGroup(rank=rank, world_size=world, backend="gloo")


def test_shards_cover_a_global_batch_once_and_weigh_rows_as_one_process():
    batch = np.arange(10, 20)
    parts = [shard(batch, rows=15, group=_group(rank, 2)) for rank in range(2)]
    assert np.concatenate([p[0] for p in parts]).tolist() == batch.tolist()
    # weights x shard means, averaged by DDP (/2), give the mean over the step's 15 rows
    assert [p[1] for p in parts] == [pytest.approx(5 * 2 / 15)] * 2
    uneven = [shard(np.arange(3), rows=3, group=_group(rank, 2)) for rank in range(2)]
    assert [p[0].tolist() for p in uneven] == [[0, 1], [2]]
    # (4/3 m0 + 2/3 m1) / 2 = (2 m0 + m1) / 3: each of the 3 rows counts once
    assert [p[1] for p in uneven] == [pytest.approx(4 / 3), pytest.approx(2 / 3)]


def test_a_rank_with_nothing_left_still_steps_with_weight_zero():
    rows, weight = shard(np.array([7]), rows=1, group=_group(1, 2))
    assert rows.tolist() == [7] and weight == 0.0
    alone, weight = shard(np.array([1, 2, 3]), rows=6, group=ProcessGroup.solo())
    assert alone.tolist() == [1, 2, 3] and weight == pytest.approx(0.5)


# ------------------------------------------------------------------ stop and pause
class _FakeGroup:
    """Agreement with a scripted other rank: its flags are ORed in, as the all-reduce does."""

    def __init__(self, other_stop=False, other_pause=False) -> None:
        self.other = [other_stop, other_pause]
        self.calls = 0

    def agree_flags(self, stop, pause):
        self.calls += 1
        return (stop or self.other[0], pause or self.other[1])


def test_a_stop_asked_of_another_rank_stops_this_one_at_the_same_check():
    local = TrainingControl()
    control = GroupControl(local, _FakeGroup(other_stop=True))
    with pytest.raises(StopRequested):
        control.check()
    assert local.stop_requested and control.stop_reason == OTHER_PROCESS


def test_a_pause_on_any_rank_holds_every_rank_until_it_is_lifted():
    group = _FakeGroup(other_pause=True)
    control = GroupControl(TrainingControl(), group)
    statuses = []
    reporter = SimpleNamespace(on_status=lambda status, message="": statuses.append(status))
    threading.Timer(0.5, lambda: group.other.__setitem__(1, False)).start()
    control.check(reporter)
    assert statuses == [PAUSED, "training"]
    assert control.paused_seconds >= 0.4 and group.calls >= 3


def test_stop_while_paused_stops():
    group = _FakeGroup(other_pause=True)
    control = GroupControl(TrainingControl(), group)
    threading.Timer(0.3, lambda: group.other.__setitem__(0, True)).start()
    with pytest.raises(StopRequested):
        control.check()


def test_one_process_agrees_with_itself():
    assert ProcessGroup.solo().agree_flags(True, False) == (True, False)
    assert ProcessGroup.solo().broadcast("x", "testing") == "x"
    assert ProcessGroup.solo().on_main(lambda: 3, "testing") == 3


# ------------------------------------------------------------------ pooled evaluation
def test_pooled_logits_equal_one_collector_that_saw_every_batch():
    logits = torch.randn(6, 3)
    whole = LogitRows(6)
    whole.add(torch.arange(6), logits, None)
    halves = [LogitRows(6), LogitRows(6)]
    halves[0].add(torch.tensor([4, 0]), logits[[4, 0]], None)
    halves[1].add(torch.tensor([1, 2, 3, 5]), logits[[1, 2, 3, 5]], None)
    pooled = LogitRows.from_parts([h.part() for h in halves] + [LogitRows(6).part()], halves[0])
    assert torch.equal(pooled.logits, whole.logits)


def test_pooled_token_outputs_and_hit_counts():
    kept = [TokenLogits(), TokenLogits()]
    labels = torch.tensor([[1, -100, 2]])
    kept[0].add(torch.tensor([1]), torch.randn(1, 3, 4), labels)
    kept[1].add(torch.tensor([0]), torch.randn(1, 3, 4), labels)
    pooled = TokenLogits.from_parts([k.part() for k in kept], kept[0])
    assert [int(o) for t in pooled.order for o in t] == [1, 0]
    hits = [TokenHits(), TokenHits()]
    hits[0].add(None, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1]))
    hits[1].add(None, torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    pooled_hits = TokenHits.from_parts([h.part() for h in hits], hits[0])
    assert (pooled_hits.hits, pooled_hits.count) == (2, 3)


# ------------------------------------------------------------------ the launcher's words
def _failure(exitcode: int, message: str = "", name: str = "") -> SimpleNamespace:
    return SimpleNamespace(exitcode=exitcode, message=message, signal_name=lambda: name)


def test_the_process_that_died_is_named_not_the_ones_stopped_after_it():
    failures = {0: _failure(-int(signal.SIGTERM), name="SIGTERM"), 1: _failure(-9, name="SIGKILL")}
    message = describe_failures(failures, 2)
    assert message.startswith("Training process 2 of 2 (rank 1) was killed by SIGKILL")
    assert "resume" in message
    lost = {0: _failure(1, LOST_CONTACT + " while stepping"), 1: _failure(139)}
    assert "(rank 1) ended with exit code 139" in describe_failures(lost, 2)


def test_the_run_folder_gets_the_failure_unless_the_run_had_ended_well(tmp_path):
    write_status(tmp_path, "training", "", 12)
    _mark_failed(tmp_path, "Training process 2 of 2 died.")
    assert read_status(tmp_path)["status"] == "failed" and read_status(tmp_path)["step"] == 12
    write_status(tmp_path, "finished", "", 40)
    _mark_failed(tmp_path, "late")
    assert read_status(tmp_path)["status"] == "finished"


def test_the_machine_rule_for_a_group_is_one_function_for_launcher_and_window():
    from ftstudio.engine.distributed.capacity import processes_problem, sharding_needs_processes

    assert processes_problem("cuda", 4, gpus=4, cores=2) == ""
    assert processes_problem("cuda", 8, gpus=4, cores=64).startswith("processes: 8 processes need 8 GPUs")
    assert processes_problem("cpu", 3, gpus=0, cores=2).startswith("processes: 3 processes on a CPU with 2 cores")
    assert processes_problem("mps", 2, gpus=0, cores=8).startswith("processes: Apple GPUs (MPS)")
    assert processes_problem("mps", 1, gpus=0, cores=8) == ""
    assert sharding_needs_processes("fsdp", 1).startswith("sharding:") and not sharding_needs_processes("fsdp", 2)


def test_a_launcher_that_cannot_start_the_group_fails_the_run_in_words(monkeypatch, tmp_path):
    from ftstudio.engine.distributed import launch
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    def refuse(processes):
        raise RuntimeError("The server socket has failed to listen on any local network address.")

    monkeypatch.setattr(launch, "_launch", refuse)
    statuses = []
    reporter = SimpleNamespace(on_status=lambda status, message="": statuses.append((status, message)),
                               on_log=lambda text: None)
    result = train(TrainSettings(processes=2, device="cpu"), run_dir=tmp_path / "run", reporter=reporter)
    assert result.status == "failed"
    assert result.message.startswith("The training processes could not be started")
    assert "failed to listen" in result.message
    assert statuses[-1][0] == "failed"


def test_an_srun_task_that_cannot_join_fails_in_words_instead_of_training_alone(monkeypatch, tmp_path):
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "2")
    result = train(TrainSettings(device="cpu"), run_dir=tmp_path / "run")
    assert result.status == "failed" and result.input_error
    assert "MASTER_ADDR and MASTER_PORT" in result.message
    assert not (tmp_path / "run").exists()
