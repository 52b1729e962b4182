"""`ftstudio job`: a job folder from the train settings and flags, or one clear line and exit 2."""

from __future__ import annotations

import pytest

from ftstudio.engine.settings import TrainSettings
from tests.cli.test_cli import run_cli


def test_job_writes_the_files_and_prints_the_submit_command(capsys, tmp_path):
    config = tmp_path / "settings.toml"
    TrainSettings(epochs=2, batch_size=16).save(config)
    job = tmp_path / "job"
    code, out, err = run_cli(capsys, "job", "--config", str(config), "--set", "seed=7", "--lr", "1e-4",
                             "--nodes", "2", "--gpus-per-node", "4", "--output", str(job))
    assert code == 0, err
    settings = TrainSettings.load(job / "settings.toml")
    assert (settings.epochs, settings.batch_size, settings.seed, settings.learning_rate) == (2, 16, 7, 1e-4)
    assert (settings.processes, settings.device) == (4, "cuda")
    for name in ("settings.toml", "launch.sh", "slurm.sbatch", "README.md"):
        assert (job / name).is_file() and name in out
    assert f"cd {job} && sbatch slurm.sbatch" in out
    assert "--nnodes 2 --nproc-per-node 4" in out


def test_job_defaults_processes_from_the_settings_and_takes_cpu_and_run_dir(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "job", "--processes", "3", "--cpu", "--run-dir", "/shared/runs/r1")
    assert code == 0, err
    settings = TrainSettings.load(tmp_path / "ftstudio-job" / "settings.toml")
    assert (settings.processes, settings.device) == (3, "cpu")
    assert "/shared/runs/r1" in (tmp_path / "ftstudio-job" / "slurm.sbatch").read_text()
    code, _, err = run_cli(capsys, "job")  # the folder is not empty now
    assert code == 2 and "not empty" in err and "--force" in err
    code, _, err = run_cli(capsys, "job", "--force", "--gpus-per-node", "2")
    assert code == 0, err
    assert TrainSettings.load(tmp_path / "ftstudio-job" / "settings.toml").processes == 2


@pytest.mark.parametrize(("args", "words"), [
    (["--nodes", "0"], "--nodes"),
    (["--gpus-per-node", "0"], "--gpus-per-node"),
    (["--nodes", "two"], "invalid int value"),
    (["--data", "relative/missing.csv"], "absolute path"),
    (["--set", "epochs"], "--set expects NAME=VALUE"),
    (["--batch-size", "0"], "batch_size"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, words):
    code, out, err = run_cli(capsys, "job", "--output", str(tmp_path / "job"), *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err and err.startswith("ftstudio: error:")
    assert not (tmp_path / "job").exists()
