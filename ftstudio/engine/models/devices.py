"""Where training runs: device choice, numeric precision, and a rough memory estimate.

`auto` picks CUDA, then Apple MPS, else the CPU. An explicitly requested device that is missing is
a SettingsError naming `device` and what is available, never a silent fallback: a user who asked
for the GPU should learn it is not there before waiting hours on the CPU.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import SettingsError

if TYPE_CHECKING:
    import torch

GIB = 1024**3


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device names usable here, best first: cuda:0.., mps, cpu."""
    names = [f"cuda:{i}" for i in range(_cuda_count())]
    if _mps_available():
        names.append("mps")
    return names + ["cpu"]


def resolve_device(setting: str) -> torch.device:
    """The torch.device for the `device` setting (auto | cuda | cuda:N | mps | cpu)."""
    import torch

    text = str(setting or "auto").strip().lower()
    if text == "auto":
        if _cuda_count():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    kind, _, index = text.partition(":")
    if kind not in ("cuda", "mps", "cpu") or (index and not index.isdigit()):
        raise SettingsError(f"device: '{setting}' is not a device. Use auto, cuda, cuda:N, mps or cpu.", "device")
    usable = (
        kind == "cpu"
        or (kind == "mps" and not index and _mps_available())
        or (kind == "cuda" and int(index or 0) < _cuda_count())
    )
    if not usable:
        raise SettingsError(
            f"device: {text} is not available on this machine (available: {', '.join(available_devices())}). "
            "Use device auto or one of those.",
            "device",
        )
    return torch.device(text)


def _bf16_on_cuda(device: torch.device) -> bool:
    import torch

    index = device.index if device.index is not None else torch.cuda.current_device()
    major, _minor = torch.cuda.get_device_capability(index)
    return major >= 8  # Ampere and newer compute in bf16 natively


def resolve_precision(setting: str, device: torch.device | str) -> str:
    """"fp32", "bf16" or "fp16" for the `precision` setting on `device`.

    auto: bf16 on CUDA GPUs that support it, else fp16 on CUDA (with a gradient scaler), fp32 on
    MPS and the CPU. fp16 autocast on the CPU is refused (slow and unsupported for many ops);
    bf16 on the CPU is allowed (autocast), for CPUs with bf16 instructions.
    """
    text = str(setting or "auto").strip().lower()
    kind = device.type if hasattr(device, "type") else str(device).split(":")[0]
    if text not in ("auto", "fp32", "bf16", "fp16"):
        raise SettingsError(f"precision: '{setting}' is not a precision. Use auto, fp32, bf16 or fp16.", "precision")
    on_cuda_bf16 = kind == "cuda" and _bf16_on_cuda(_as_device(device))
    if text == "auto":
        if kind == "cuda":
            return "bf16" if on_cuda_bf16 else "fp16"
        return "fp32"
    if text == "fp16" and kind == "cpu":
        raise SettingsError("precision: fp16 needs a GPU. Use fp32 (or bf16) on the CPU.", "precision")
    if text == "bf16" and kind == "cuda" and not on_cuda_bf16:
        raise SettingsError("precision: this GPU has no bf16 support. Use fp16 or fp32.", "precision")
    return text


def _as_device(device: torch.device | str) -> torch.device:
    import torch

    return device if isinstance(device, torch.device) else torch.device(device)


def describe_devices() -> list[dict[str, Any]]:
    """What the window lists: one dict per device (kind, index, name, total_memory in bytes,
    bf16 support, label), GPUs first, the CPU last with its core count and RAM."""
    import torch

    found: list[dict[str, Any]] = []
    for i in range(_cuda_count()):
        props = torch.cuda.get_device_properties(i)
        bf16 = _bf16_on_cuda(torch.device("cuda", i))
        found.append(_entry("cuda", i, props.name, int(props.total_memory), bf16))
    if _mps_available():
        # Apple GPUs share the system memory.
        found.append(_entry("mps", 0, "Apple GPU (MPS)", _system_memory()[0], True))
    total, available = _system_memory()
    cpu = _entry("cpu", 0, platform.processor() or platform.machine() or "CPU", total, True)
    cpu["cores"] = os.cpu_count() or 1
    cpu["available_memory"] = available
    cpu["label"] = f"CPU ({cpu['cores']} cores, {total / GIB:.1f} GiB RAM)"
    found.append(cpu)
    return found


def _entry(kind: str, index: int, name: str, memory: int, bf16: bool) -> dict[str, Any]:
    label = f"{kind.upper()} {index}: {name} ({memory / GIB:.1f} GiB)" if kind == "cuda" else name
    return {"kind": kind, "index": index, "name": name, "total_memory": memory, "bf16": bf16, "label": label}


def _system_memory() -> tuple[int, int]:
    """(total, available) RAM in bytes; zeros where psutil is missing."""
    try:
        import psutil
    except ImportError:
        return 0, 0
    memory = psutil.virtual_memory()
    return int(memory.total), int(memory.available)
