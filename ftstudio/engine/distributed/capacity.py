"""Whether this machine can hold a group of processes: one rule, said the same way by the
launcher (which refuses before starting anything) and by the window's Setup (before Start).
Pure functions of the device kind and counts, so the window asks without importing torch."""

from __future__ import annotations


def processes_problem(device_kind: str, processes: int, gpus: int, cores: int) -> str:
    """Why `processes` processes cannot train on `device_kind` ("cuda", "mps", "cpu") here
    ("" when they can); the message starts with the setting it names."""
    if processes < 2:
        return ""
    if device_kind == "mps":
        return "processes: Apple GPUs (MPS) train in one process; set processes to 1 or device to CPU."
    if device_kind == "cuda" and processes > gpus:
        return (f"processes: {processes} processes need {processes} GPUs (one each); this machine has {gpus}. "
                f"Set processes to {gpus} or less.")
    if device_kind == "cpu" and processes > cores:
        return (f"processes: {processes} processes on a CPU with {cores} cores would only wait on each other; "
                f"use at most {cores}.")
    return ""


def sharding_needs_processes(sharding: str, processes: int) -> str:
    """FSDP shards across processes: a refusal for one ("" otherwise)."""
    if sharding == "fsdp" and processes < 2:
        return "sharding: FSDP shards the model across processes; set processes to 2 or more, or sharding to none."
    return ""
