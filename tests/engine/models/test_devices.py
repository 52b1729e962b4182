"""Device choice, precision rules and the memory estimate, independent of this machine's hardware."""

from __future__ import annotations

import pytest
import torch

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.models import devices


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(devices, "_cuda_count", lambda: 0)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(devices, "_cuda_count", lambda: 1)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


def test_auto_picks_cpu_without_accelerators(cpu_only):
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")


def test_auto_prefers_cuda(one_gpu):
    assert devices.resolve_device("auto").type == "cuda"
    assert devices.resolve_device("cuda:0") == torch.device("cuda:0")


@pytest.mark.parametrize("setting", ["cuda", "mps", "cuda:1"])
def test_missing_device_names_setting_and_alternatives(cpu_only, setting):
    with pytest.raises(SettingsError, match=r"not available.*available: cpu") as info:
        devices.resolve_device(setting)
    assert info.value.setting == "device"


def test_unknown_device_refused():
    with pytest.raises(SettingsError, match="not a device"):
        devices.resolve_device("tpu")


def test_precision_on_cpu():
    cpu = torch.device("cpu")
    assert devices.resolve_precision("auto", cpu) == "fp32"
    assert devices.resolve_precision("fp32", cpu) == "fp32"
    assert devices.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(SettingsError, match="fp16 needs a GPU") as info:
        devices.resolve_precision("fp16", cpu)
    assert info.value.setting == "precision"


def test_precision_on_mps_is_fp32():
    assert devices.resolve_precision("auto", "mps") == "fp32"


@pytest.mark.parametrize("bf16, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_precision_on_cuda(monkeypatch, bf16, expected):
    monkeypatch.setattr(devices, "_bf16_on_cuda", lambda device: bf16)
    assert devices.resolve_precision("auto", "cuda") == expected
    assert devices.resolve_precision("fp16", "cuda") == "fp16"


def test_bf16_refused_on_old_gpu(monkeypatch):
    monkeypatch.setattr(devices, "_bf16_on_cuda", lambda device: False)
    with pytest.raises(SettingsError, match="bf16"):
        devices.resolve_precision("bf16", "cuda")


def test_describe_devices_ends_with_cpu():
    found = devices.describe_devices()
    cpu = found[-1]
    assert cpu["kind"] == "cpu" and cpu["cores"] >= 1 and cpu["total_memory"] > 0
    assert all({"kind", "name", "total_memory", "bf16", "label"} <= set(entry) for entry in found)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_device():
    device = devices.resolve_device("cuda")
    assert device.type == "cuda"
    assert devices.resolve_precision("auto", device) in ("bf16", "fp16")
    assert devices.describe_devices()[0]["kind"] == "cuda"
