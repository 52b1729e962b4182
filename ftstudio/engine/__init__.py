"""The Qt-free core shared by the window and the CLI.

Nothing in this package may import Qt: a test imports every module here with PySide6 blocked.
Heavy libraries (torch, transformers, datasets) are imported inside functions where the caller
may only want a light operation (listing runs, validating settings), so the window opens fast.
"""
