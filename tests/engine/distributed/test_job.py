"""The cluster job: the files write_job writes, what the scripts run, and its refusals in words.

The scripts are checked with `bash -n` and then run with stand-ins for python, srun and scontrol
that record their command line, so the torchrun line is checked as bash expands it (quoted paths
with spaces included) without training anything.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ftstudio.engine.distributed.job import job_name, start_commands, write_job
from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings import TrainSettings

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="the scripts are bash scripts")


@pytest.fixture
def data_file(tmp_path) -> Path:
    path = tmp_path / "my data" / "train.csv"
    path.parent.mkdir()
    path.write_text("text,label\ngood,positive\nbad,negative\n", encoding="utf-8")
    return path


def _recorder(folder: Path, name: str) -> Path:
    """An executable that writes its arguments, one a line, to <name>.args beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "{folder}/{name}.args"\n', encoding="utf-8")
    script.chmod(0o755)
    return script


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "MASTER_", "RUN_DIR", "JOB_DIR", "NNODES", "RDZV_", "PYTHON"))}
    return {**env, **extra}


def test_writes_settings_scripts_and_readme(tmp_path, data_file):
    folder = tmp_path / "job"
    files = write_job(TrainSettings(data=str(data_file), batch_size=8), nodes=2, gpus_per_node=4, folder=folder)
    assert files.folder == folder and files.run_dir == folder / "run"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "launch.sh", "settings.toml", "slurm.sbatch"]
    loaded = TrainSettings.load(files.settings)
    assert (loaded.processes, loaded.device, loaded.batch_size) == (4, "cuda", 8)
    assert loaded.data == str(data_file)
    for script in (files.launch, files.slurm):
        assert script.stat().st_mode & stat.S_IXUSR
        assert sys.executable not in script.read_text()  # the cluster's python, never this machine's
    slurm = files.slurm.read_text()
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --cpus-per-task=16", f"#SBATCH --job-name={job_name(folder)}",
                 'scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p'):
        assert line in slurm
    assert "--nnodes \"$SLURM_JOB_NUM_NODES\" --nproc-per-node 4" in slurm
    assert '--nnodes "$NNODES" --nproc-per-node 4' in files.launch.read_text()
    readme = files.readme.read_text()
    assert "sbatch slurm.sbatch" in readme and "every node" in readme and str(data_file) in readme
    assert "64 texts per optimizer step" in readme  # 8 per process x 2 nodes x 4 GPUs


@needs_bash
def test_scripts_pass_bash_syntax_check(tmp_path):
    files = write_job(TrainSettings(), nodes=3, gpus_per_node=2, folder=tmp_path / "a job",
                      run_dir=tmp_path / "shared runs" / "it's mine")
    for script in (files.launch, files.slurm):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


@needs_bash
def test_launch_runs_torchrun_with_the_job_settings(tmp_path):
    files = write_job(TrainSettings(), nodes=1, gpus_per_node=2, folder=tmp_path / "a job", port=29611)
    python = _recorder(tmp_path / "bin", "python")
    result = subprocess.run(["bash", str(files.launch)], env=_clean_env(PYTHON=str(python)),
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "bin" / "python.args").read_text().splitlines()
    assert args == ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                    "--rdzv-backend", "c10d", "--rdzv-endpoint", "localhost:29611", "--rdzv-id", job_name(files.folder),
                    "-m", "ftstudio", "train", "--config", str(files.settings), "--output", str(files.folder / "run")]


@needs_bash
def test_launch_with_several_nodes_needs_the_first_node(tmp_path):
    files = write_job(TrainSettings(), nodes=2, gpus_per_node=1, folder=tmp_path / "job")
    python = _recorder(tmp_path / "bin", "python")
    result = subprocess.run(["bash", str(files.launch)], env=_clean_env(PYTHON=str(python)),
                            capture_output=True, text=True)
    assert result.returncode == 2 and "MASTER_ADDR" in result.stderr
    result = subprocess.run(["bash", str(files.launch)], capture_output=True, text=True,
                            env=_clean_env(PYTHON=str(python), MASTER_ADDR="node7", RUN_DIR="/shared/r 1"))
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "bin" / "python.args").read_text().splitlines()
    assert args[args.index("--rdzv-endpoint") + 1] == "node7:29500" and args[-1] == "/shared/r 1"


@needs_bash
def test_slurm_script_runs_srun_with_rendezvous_on_the_head_node(tmp_path):
    run_dir = tmp_path / "shared runs" / "run 1"
    files = write_job(TrainSettings(), nodes=2, gpus_per_node=4, folder=tmp_path / "a job", run_dir=run_dir)
    bin_dir = tmp_path / "bin"
    _recorder(bin_dir, "srun")
    (bin_dir / "scontrol").write_text('#!/usr/bin/env bash\nprintf "gpu017\\ngpu018\\n"\n', encoding="utf-8")
    (bin_dir / "scontrol").chmod(0o755)
    env = _clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", SLURM_JOB_NODELIST="gpu[017-018]",
                     SLURM_JOB_ID="4242", SLURM_JOB_NUM_NODES="2", SLURM_SUBMIT_DIR=str(files.folder))
    result = subprocess.run(["bash", str(files.slurm)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    args = (bin_dir / "srun.args").read_text().splitlines()
    assert args[:4] == ["--kill-on-bad-exit=1", "python", "-m", "torch.distributed.run"]
    assert args[args.index("--nnodes") + 1] == "2" and args[args.index("--nproc-per-node") + 1] == "4"
    assert args[args.index("--rdzv-endpoint") + 1] == "gpu017:29500"
    assert args[args.index("--rdzv-id") + 1] == "4242"
    assert args[-4:] == ["--config", str(files.settings), "--output", str(run_dir)]


def test_cpu_job_is_a_gloo_job_without_gpus(tmp_path):
    files = write_job(TrainSettings(), nodes=2, gpus_per_node=3, folder=tmp_path / "job", cpu=True)
    assert TrainSettings.load(files.settings).device == "cpu"
    assert "--gpus-per-node" not in files.slurm.read_text()
    # Without cpu=..., the settings' device decides; any other device becomes cuda.
    chosen = write_job(TrainSettings(device="cpu"), nodes=1, gpus_per_node=1, folder=tmp_path / "job2")
    assert TrainSettings.load(chosen.settings).device == "cpu" and chosen.cpu
    gpu = write_job(TrainSettings(device="mps"), nodes=1, gpus_per_node=1, folder=tmp_path / "job3")
    assert TrainSettings.load(gpu.settings).device == "cuda"


def test_model_and_data_paths_are_made_absolute_or_kept(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.chdir(tiny_model_dir.parent)
    (tmp_path / "d.csv").write_text("text,label\na,b\n", encoding="utf-8")
    files = write_job(TrainSettings(model=tiny_model_dir.name, data=os.path.relpath(tmp_path / "d.csv")),
                      nodes=1, gpus_per_node=1, folder=tmp_path / "job")
    loaded = TrainSettings.load(files.settings)
    assert loaded.model == str(tiny_model_dir.resolve()) and loaded.data == str((tmp_path / "d.csv").resolve())
    kept = write_job(TrainSettings(model="google-bert/bert-base-uncased", data="/cluster/only/train.csv"),
                     nodes=1, gpus_per_node=1, folder=tmp_path / "job2")
    loaded = TrainSettings.load(kept.settings)
    assert (loaded.model, loaded.data) == ("google-bert/bert-base-uncased", "/cluster/only/train.csv")
    assert "/cluster/only/train.csv" in kept.readme.read_text()
    plain = write_job(TrainSettings(), nodes=1, gpus_per_node=1, folder=tmp_path / "job3")
    assert (TrainSettings.load(plain.settings).model, TrainSettings.load(plain.settings).data) == ("default", "sample")


@pytest.mark.parametrize(("changes", "words"), [
    ({"nodes": 0}, "--nodes: the number of nodes must be a whole number of at least 1"),
    ({"gpus_per_node": 0}, "--gpus-per-node"),
    ({"port": 70000}, "--port must be a port number"),
    ({"cpus_per_task": 0}, "--cpus-per-task"),
    ({"settings": TrainSettings(batch_size=0)}, "batch_size"),
    ({"settings": TrainSettings(data="rel/missing.csv")}, "relative path and is not found here"),
    ({"settings": TrainSettings(model="./my-model")}, "give its absolute path"),
])
def test_refusals_in_words(tmp_path, changes, words):
    arguments = {"settings": TrainSettings(), "nodes": 1, "gpus_per_node": 1, "folder": tmp_path / "job", **changes}
    settings = arguments.pop("settings")
    with pytest.raises(SettingsError, match=words.replace(".", r"\.").replace("-", r"\-")):
        write_job(settings, **arguments)
    assert not (tmp_path / "job").exists()  # nothing written before the inputs are known to be good


def test_non_empty_folder_refused_unless_overwritten(tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SettingsError, match="not empty"):
        write_job(TrainSettings(), nodes=1, gpus_per_node=1, folder=folder)
    files = write_job(TrainSettings(), nodes=1, gpus_per_node=2, folder=folder, overwrite=True)
    assert TrainSettings.load(files.settings).processes == 2 and (folder / "notes.txt").read_text() == "mine"
    with pytest.raises(SettingsError, match="is a file"):
        write_job(TrainSettings(), nodes=1, gpus_per_node=1, folder=folder / "notes.txt")
    with pytest.raises(SettingsError, match="cannot be the job folder"):
        write_job(TrainSettings(), nodes=1, gpus_per_node=1, folder=tmp_path / "j", run_dir=tmp_path / "j")


def test_start_commands_name_the_submit_command_and_the_torchrun_line(tmp_path):
    lines = start_commands(tmp_path / "a job", 2, 8)
    assert f"cd '{tmp_path / 'a job'}' && sbatch slurm.sbatch" in lines[0]
    assert "MASTER_ADDR=<first node>" in lines[1]
    assert "--nnodes 2 --nproc-per-node 8" in lines[2] and "8 GPUs" in lines[2]
