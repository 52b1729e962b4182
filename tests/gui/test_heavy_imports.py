"""transformers is imported whole, never while another background thread's datasets work runs."""

from __future__ import annotations

import threading

from ftstudio.gui import heavy_imports


def test_the_import_waits_for_data_work_then_never_waits_again(monkeypatch):
    monkeypatch.setattr(heavy_imports, "_ready", threading.Event())
    done = threading.Event()
    worker = threading.Thread(target=lambda: (heavy_imports.import_transformers(), done.set()))
    with heavy_imports.DATA_WORK:  # a data load in progress
        worker.start()
        assert not done.wait(0.3)  # the import waits for it
    assert done.wait(30)
    worker.join()
    with heavy_imports.DATA_WORK:  # once whole, importing again needs no lock
        heavy_imports.import_transformers()
