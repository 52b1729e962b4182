"""Fixtures shared by the Setup tab's tests."""

from __future__ import annotations

import pytest

WAIT_MS = 60000  # a data load on the panel's background runner


@pytest.fixture
def panel(qtbot):
    """A data panel on its own."""
    from ftstudio.gui.setup.data_panel import DataPanel

    data = DataPanel()
    qtbot.addWidget(data)
    return data


def wait_loaded(qtbot, panel, spec=None) -> None:
    """Wait until the panel has finished loading (prepared, or refused with a message)."""
    qtbot.waitUntil(lambda: not panel.is_loading() and (spec is None or panel.data_spec() == str(spec))
                    and (panel.prepared() is not None or panel.error() != ""), timeout=WAIT_MS)


@pytest.fixture
def page(qtbot):
    """A Setup page on its own background runner, shut down after the test."""
    from ftstudio.gui.background import BackgroundRunner
    from ftstudio.gui.setup.page import SetupPage

    runner = BackgroundRunner(max_threads=2)
    setup = SetupPage(runner)
    qtbot.addWidget(setup)
    yield setup
    setup.shutdown()
    runner.shutdown()
