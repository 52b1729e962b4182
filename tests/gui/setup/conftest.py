"""Fixtures shared by the Setup tab's tests."""

from __future__ import annotations

import pytest


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
