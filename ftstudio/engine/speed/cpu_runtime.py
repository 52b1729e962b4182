"""Process-level CPU settings that make training faster.

`configure_cpu_runtime()` must run before torch is first imported (the entry points call it):
PyTorch's CPU kernels run on an OpenMP thread pool, and GNU OpenMP's default makes idle pool
threads spin for a while before sleeping. On a machine with as many pool threads as cores, any
other busy thread (the window's UI thread drawing plots, a browser, another job) then competes
with spinning threads, and every parallel region waits for a descheduled one: on the 2-core
benchmark machine with other work running, a training step took 2-3x longer. With the passive
wait policy idle pool threads sleep at once; measured on the same machine, steps under load ran
as fast as with one thread, and an idle machine loses no measurable speed (benchmarks/README.md).
"""

from __future__ import annotations

import os
import sys

OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_cpu_runtime() -> bool:
    """Set the OpenMP wait policy unless the user chose one; True when it could still take effect
    (torch not imported yet). Environment variables only: nothing heavy is imported here."""
    applied = "torch" not in sys.modules
    for key, value in OPENMP_ENV.items():
        os.environ.setdefault(key, value)
    return applied


def lower_thread_priority(increment: int = 5) -> bool:
    """Lower the calling thread's CPU priority (Linux: its nice value); True when applied.

    For training beside a window: the window's training child process calls it first thing on
    its main thread, before torch runs anything, so the OpenMP threads torch starts inherit it.
    The window's UI thread keeps the default priority, so when it wakes to paint a plot or answer
    a click the scheduler runs it at once instead of letting it wait behind the training threads;
    training loses only the CPU the UI actually uses. Measured on 2 cores (training then still
    ran on a thread of the window): the worst event-loop stall during training fell from 54-223
    ms to 45-49 ms with no loss of training speed. Other platforms: no-op (False).
    """
    import threading

    if not sys.platform.startswith("linux") or increment <= 0:
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except (OSError, AttributeError):
        return False
    return True
