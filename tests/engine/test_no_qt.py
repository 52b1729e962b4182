"""The engine must never import Qt: import every engine module with PySide6 made unimportable."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ftstudio.engine

BLOCKER = r"""
import importlib.abc, sys
class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph'):
            raise ImportError(f'{name} is blocked: the engine must not import Qt')
        return None
sys.meta_path.insert(0, BlockQt())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
import ftstudio.cli.main  # the CLI's headless commands must not need Qt either
print('ok', len(sys.argv) - 1)
"""


def test_every_engine_module_imports_without_qt():
    names = [m.name for m in pkgutil.walk_packages(ftstudio.engine.__path__, "ftstudio.engine.")]
    assert len(names) >= 40
    result = subprocess.run([sys.executable, "-c", BLOCKER, *names], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")
