"""The window (PySide6). Importing this package first guards against a binding refcount bug.

PySide6 6.12.0 on CPython 3.11 drops one reference to None on every call of a void C++ method
(setText, resize, processEvents...) and one to True on every Signal.emit(). CPython 3.12+ makes
None/True/False immortal, so nothing happens there; on 3.11 the process aborts ("Fatal Python
error: none_dealloc / bool_dealloc") after some ten thousand such calls: mid-run in a long
training session, or at exit. Giving the three singletons a huge reference count makes them
effectively immortal, as 3.12 does; it costs nothing and is harmless where the bug is absent.
"""

from __future__ import annotations

import sys


def _make_singletons_immortal() -> None:
    # pyproject excludes 6.12.0; this guards installs that forced it anyway, and nothing else.
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    try:
        from importlib.metadata import version

        if not version("PySide6").startswith("6.12.0"):
            return
    except Exception:  # noqa: BLE001 - metadata missing (frozen app): stay on the safe side
        pass
    import ctypes

    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40


_make_singletons_immortal()
