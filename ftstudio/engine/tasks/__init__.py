"""Task types: what a task's data, head, metrics and predictions look like.

Today one task exists, single-label text classification (`classification.py`). Each further task
type (regression, multi-label, text pairs, token classification, masked-LM pre-training) becomes
one module here plus its registration, never an `if` in the training loop.
"""
