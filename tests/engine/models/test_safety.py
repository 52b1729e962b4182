"""Safe loading: no pickle from a user's file is ever executed, remote code runs only on opt-in
and says whose code it is, nothing touches the network unless a Hub source was picked, and no
token reaches a log or a run folder.

The "malicious" files below unpickle to `open(marker, "w")`: if the marker file appears, the
file was unpickled with arbitrary code execution.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftstudio.engine.errors import ModelError
from ftstudio.engine.events import TrainingControl
from ftstudio.engine.predict.predictor import Predictor
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.training.train import train
from tests.engine.training.test_train import Recorder, tiny_settings


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_pickle(path: Path, marker: Path) -> None:
    import torch

    torch.save({"weight": _Evil(marker)}, path)


def _copy(src: Path, dst: Path, skip=()) -> Path:
    shutil.copytree(src, dst, ignore=lambda _d, names: [n for n in names if n in skip])
    return dst


# ------------------------------------------------------------------ pickles
def test_pickle_only_model_is_refused_and_never_unpickled(tiny_model_dir, small_csv, tmp_path, runs_dir):
    marker = tmp_path / "pwned"
    folder = _copy(tiny_model_dir, tmp_path / "evil-model", skip=("model.safetensors",))
    _evil_pickle(folder / "pytorch_model.bin", marker)
    refused = train(tiny_settings(tiny_model_dir, small_csv).replace(model=str(folder)), runs_dir=runs_dir)
    assert refused.status == "failed" and refused.input_error
    assert "pickle" in refused.message and "allow" in refused.message
    # Even with the explicit opt-in, loading goes through torch's weights-only unpickler.
    allowed = train(tiny_settings(tiny_model_dir, small_csv, allow_pickle=True).replace(model=str(folder)),
                    runs_dir=runs_dir)
    assert allowed.status == "failed" and "refused" in allowed.message and "\x1b" not in allowed.message
    assert not marker.exists()


def test_safetensors_win_over_a_pickle_beside_them(tiny_model_dir, small_csv, tmp_path, runs_dir):
    marker = tmp_path / "pwned"
    folder = _copy(tiny_model_dir, tmp_path / "both")
    _evil_pickle(folder / "pytorch_model.bin", marker)
    for allow in (False, True):
        result = train(tiny_settings(tiny_model_dir, small_csv, allow_pickle=allow, epochs=1).replace(model=str(folder)),
                       runs_dir=runs_dir)
        assert result.status == "finished", result.message
    assert not marker.exists()


def test_resume_state_is_loaded_weights_only(tiny_model_dir, small_csv, tmp_path):
    marker = tmp_path / "pwned"
    control = TrainingControl()
    stopped = train(tiny_settings(tiny_model_dir, small_csv), tmp_path / "run", reporter=Recorder(control, stop_at=3),
                    control=control)
    for folder in [stopped.run_dir / "last", *(stopped.run_dir / "checkpoints").iterdir()]:
        (folder / "training_state.pt").unlink()  # break the hard link before writing
        _evil_pickle(folder / "training_state.pt", marker)
    result = train(run_dir=stopped.run_dir, resume=True)
    assert result.status == "failed" and "resume state" in result.message and "\n" not in result.message
    assert not marker.exists()
    assert runs.read_status(stopped.run_dir)["status"] == "failed"


def test_predictor_refuses_a_checkpoint_without_safetensors(tiny_model_dir, small_csv, tmp_path):
    marker = tmp_path / "pwned"
    result = train(tiny_settings(tiny_model_dir, small_csv, epochs=1), tmp_path / "run")
    checkpoint = _copy(result.run_dir / "best", tmp_path / "pickled-checkpoint", skip=("model.safetensors",))
    _evil_pickle(checkpoint / "pytorch_model.bin", marker)
    with pytest.raises(Exception, match="model.safetensors"):
        Predictor(checkpoint)
    assert not marker.exists()


# ------------------------------------------------------------------ remote code
def _remote_code_model(tiny_model_dir: Path, folder: Path, marker: Path) -> Path:
    """A model folder whose config points at Python files shipped with it (as Hub repos do)."""
    _copy(tiny_model_dir, folder)
    code = f"open({str(marker)!r}, 'w').close()\nfrom transformers import BertConfig\n" \
           "class ShippedConfig(BertConfig):\n    model_type = 'shipped-bert'\n"
    (folder / "configuration_shipped.py").write_text(code, encoding="utf-8")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="shipped-bert", auto_map={"AutoConfig": "configuration_shipped.ShippedConfig"})
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_remote_code_never_runs_without_opt_in(tiny_model_dir, small_csv, tmp_path, runs_dir):
    marker = tmp_path / "code-ran"
    folder = _remote_code_model(tiny_model_dir, tmp_path / "shipped", marker)
    result = train(tiny_settings(tiny_model_dir, small_csv).replace(model=str(folder)), runs_dir=runs_dir)
    assert result.status == "failed" and result.input_error, result.message
    assert "trust_remote_code" in result.message and str(folder) in result.message
    assert not marker.exists()


def test_remote_code_opt_in_warns_naming_the_repository(tiny_model_dir, tmp_path, caplog, monkeypatch):
    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    marker = tmp_path / "code-ran"
    folder = _remote_code_model(tiny_model_dir, tmp_path / "shipped", marker)
    from ftstudio.engine.models.loading import load_model_and_tokenizer
    from ftstudio.engine.models.sources import resolve_model_source

    with caplog.at_level("WARNING", logger="ftstudio"):
        try:
            loaded = load_model_and_tokenizer(resolve_model_source(str(folder)), ["a", "b"], trust_remote_code=True)
            notes = loaded.notes
        except ModelError:  # the shipped config may not build a classifier; the warning came first
            notes = []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("trust_remote_code" in w and "shipped" in w for w in warnings), warnings
    assert not notes or any("shipped" in n for n in notes)
    assert marker.exists()  # opted in: the shipped code did run


def test_remote_code_is_off_unless_asked_on_the_command_line():
    from ftstudio.cli.main import build_parser, settings_from_args
    from ftstudio.engine.settings import TrainSettings

    assert TrainSettings().trust_remote_code is False and TrainSettings().allow_pickle is False
    assert settings_from_args(build_parser().parse_args(["train"])).trust_remote_code is False
    assert settings_from_args(build_parser().parse_args(["train", "--trust-remote-code"])).trust_remote_code is True


# ------------------------------------------------------------------ network and secrets
# Runs the CLI with the Hugging Face offline switches removed and every socket connection
# recorded (and refused), so only our own code decides whether the network is used.
NETWORK_PROBE = r"""
import os, socket, sys
log = open(os.environ["NET_LOG"], "a")
def refuse(*args, **kwargs):
    log.write(repr(args[:2]) + "\n"); log.flush()
    raise OSError("network disabled by the test")
socket.socket.connect = lambda self, address: refuse(address)
socket.socket.connect_ex = lambda self, address: refuse(address)
socket.create_connection = refuse
socket.getaddrinfo = refuse
from ftstudio.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _run_offline_switches_off(args: list[str], tmp_path: Path, secret: str) -> tuple[subprocess.CompletedProcess, str]:
    net_log = tmp_path / f"net-{len(list(tmp_path.glob('net-*')))}.log"
    net_log.write_text("")
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(NET_LOG=str(net_log), HF_TOKEN=secret, HUGGING_FACE_HUB_TOKEN=secret, HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run([sys.executable, "-c", NETWORK_PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=600)
    return done, net_log.read_text()


def test_local_training_uses_no_network_and_writes_no_token(tiny_model_dir, small_csv, tmp_path):
    secret = "hf_TestSecretToken0123456789abcdef"
    run_dir = tmp_path / "run"
    done, attempts = _run_offline_switches_off(
        ["train", "--model", str(tiny_model_dir), "--data", str(small_csv), "--epochs", "1", "--max-length", "32",
         "--output", str(run_dir)], tmp_path, secret)
    assert done.returncode == 0, done.stderr
    predicted, more = _run_offline_switches_off(["predict", str(run_dir), "great flight"], tmp_path, secret)
    assert predicted.returncode == 0, predicted.stderr
    assert attempts == "" and more == "", f"network used: {attempts}{more}"
    assert secret not in done.stdout + done.stderr + predicted.stdout + predicted.stderr
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"token written to {path}"

    # The probe does see the network: a Hub id is the user's choice to go online.
    hub, attempts = _run_offline_switches_off(
        ["train", "--model", "someone/some-model", "--data", str(small_csv)], tmp_path, secret)
    assert hub.returncode == 2 and attempts, "the network probe saw nothing"
    assert secret not in hub.stdout + hub.stderr
