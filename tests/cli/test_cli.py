"""The CLI: train/predict/runs on a tiny model, and one clear line with exit 2 for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ftstudio.cli.main import main
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.runs import listing


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tiny_args(model: Path, data: Path) -> list[str]:
    return ["--model", str(model), "--data", str(data), "--epochs", "1", "--batch-size", "8",
            "--max-length", "32", "--lr", "2e-3"]


def test_train_predict_and_list_runs(capsys, tiny_model_dir, small_csv, runs_dir):
    code, out, err = run_cli(capsys, "train", *tiny_args(tiny_model_dir, small_csv))
    assert code == 0, err
    assert "Finished. Run folder:" in out and "validation @ step" in out
    run_dir = listing.list_runs(runs_dir)[0].run_dir
    code, out, err = run_cli(capsys, "predict", str(run_dir), "great flight", "awful delay", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert len(lines) == 2
    assert set(lines[0]["probabilities"]) == {"negative", "neutral", "positive"}
    assert abs(sum(lines[0]["probabilities"].values()) - 1) < 1e-4
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and run_dir.name[:40] in out and "finished" in out


def test_train_with_lora_then_predict_from_best_and_from_an_adapter_step(capsys, tiny_model_dir, small_csv, tmp_path):
    out_dir = tmp_path / "lora"
    code, out, err = run_cli(capsys, "train", *tiny_args(tiny_model_dir, small_csv), "--strategy", "lora",
                             "--lora-rank", "4", "--lora-targets", "query,value", "--output", str(out_dir))
    assert code == 0, err
    assert "LoRA: rank 4, alpha 16, adapters on 4 modules (query, value)" in out
    saved = runs.read_settings(out_dir)["settings"]
    assert (saved["strategy"], saved["lora_rank"], saved["lora_targets"]) == ("lora", 4, "query,value")
    code, out, err = run_cli(capsys, "predict", str(out_dir), "great flight", "--json")
    assert code == 0, err
    assert set(json.loads(out)["probabilities"]) == {"negative", "neutral", "positive"}
    # --freeze is the strategy's old flag
    code, _, err = run_cli(capsys, "train", *tiny_args(tiny_model_dir, small_csv), "--freeze", "lora",
                           "--lora-targets", "nothing_here", "--output", str(tmp_path / "refused"))
    assert code == 2 and err.strip().startswith("ftstudio: error: lora_targets:") and len(err.strip().splitlines()) == 1


def test_config_file_and_flag_precedence(capsys, tiny_model_dir, small_csv, tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text(f'model = "{tiny_model_dir}"\ndata = "{small_csv}"\nepochs = 1\nbatch_size = 8\n'
                      'max_length = 32\nlearning_rate = 0.5\n', encoding="utf-8")
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--config", str(config), "--lr", "1e-3", "--output", str(out_dir))
    assert code == 0, err
    saved = runs.read_settings(out_dir)["settings"]
    assert saved["learning_rate"] == 1e-3 and saved["epochs"] == 1


def _bad_inputs(tmp_path: Path, model: Path, data: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    header = tmp_path / "header.csv"
    header.write_text("text,label\n", encoding="utf-8")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 40)
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"row {i},same\n" for i in range(30)), encoding="utf-8")
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(30)), encoding="utf-8")
    malformed = tmp_path / "bad.json"
    malformed.write_text('{"text": "a", "label": ', encoding="utf-8")
    empty_model = tmp_path / "empty-model"
    empty_model.mkdir()
    bad_config = tmp_path / "bad.json.toml"
    bad_config.write_text("epochs = = 3", encoding="utf-8")
    base = ["--model", str(model), "--max-length", "32"]
    return {
        "missing file": ([*base, "--data", str(tmp_path / "nope.csv")], "not found"),
        "empty file": ([*base, "--data", str(empty)], "empty"),
        "header only": ([*base, "--data", str(header)], "no rows"),
        "binary file": ([*base, "--data", str(binary)], "binary"),
        "malformed json": ([*base, "--data", str(malformed)], "json"),
        "one class": ([*base, "--data", str(one_class)], "class"),
        "no text column": ([*base, "--data", str(numbers)], "text"),
        "unknown column": ([*base, "--data", str(data), "--text-column", "body"], "body"),
        "empty model folder": (["--model", str(empty_model), "--data", str(data)], "empty-model"),
        "hub id offline": (["--model", "someone/no-such-model", "--data", str(data)], "hub"),
        "bad learning rate": ([*base, "--data", str(data), "--lr", "-1"], "learning_rate"),
        "bad freeze": ([*base, "--data", str(data), "--freeze", "middle"], "strategy"),
        "bad type": ([*base, "--data", str(data), "--epochs", "three"], "epochs"),
        "bad config": ([*base, "--data", str(data), "--config", str(bad_config)], "toml"),
        # A file where a folder must go: unwritable even for root.
        "unwritable output": ([*base, "--data", str(data), "--output", str(empty / "run")], "output"),
        "unknown setting": ([*base, "--data", str(data), "--set", "colour=blue"], "colour"),
    }


def test_every_bad_input_is_one_line_and_exit_2(capsys, tmp_path, tiny_model_dir, small_csv, runs_dir):
    for name, (args, needle) in _bad_inputs(tmp_path, tiny_model_dir, small_csv).items():
        started = time.monotonic()
        code, out, err = run_cli(capsys, "train", *args)
        assert code == 2, f"{name}: exit {code}, stderr={err!r}"
        lines = [line for line in err.strip().splitlines() if line]
        assert len(lines) == 1, f"{name}: {err!r}"
        assert "Traceback" not in err + out, name
        assert needle.lower() in lines[0].lower(), f"{name}: {lines[0]!r}"
        assert time.monotonic() - started < 60, name
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), "bad input must not leave run folders"


def test_predict_bad_checkpoint(capsys, tmp_path):
    code, _, err = run_cli(capsys, "predict", str(tmp_path / "missing"), "hello")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err


def test_ctrl_c_stops_saves_and_resume_finishes(tiny_model_dir, small_csv, tmp_path):
    """A real process gets SIGINT mid-run, saves, exits 130; --resume completes the run."""
    out_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "ftstudio", "train", *tiny_args(tiny_model_dir, small_csv), "--epochs", "3",
           "--output", str(out_dir), "--set", "log_steps=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        if line.startswith("step") and int(line.split()[1].split("/")[0]) >= 5:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert runs.read_status(out_dir)["status"] == "stopped"
    assert (out_dir / "last" / "model.safetensors").is_file()
    resumed = subprocess.run([sys.executable, "-m", "ftstudio", "train", "--resume", str(out_dir), "--quiet",
                              "--set", "epochs=1"], capture_output=True, text=True, env=env, timeout=300)
    # --resume takes no other settings: the run's own are used.
    assert resumed.returncode == 2
    resumed = subprocess.run([sys.executable, "-m", "ftstudio", "train", "--resume", str(out_dir), "--quiet"],
                             capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert runs.read_status(out_dir)["status"] == "finished"
