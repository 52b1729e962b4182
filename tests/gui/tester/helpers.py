"""Helpers shared by the tester's tests."""

from __future__ import annotations


def browse_to(picker, folder) -> None:
    """Pick `folder` in a checkpoint picker as the user does: "Browse..." and its dialog's answer."""
    picker.browse_folder = lambda: str(folder)
    browse = picker.count() - 1
    picker.setCurrentIndex(browse)
    picker.activated.emit(browse)
    assert picker.current_path() == str(folder)
