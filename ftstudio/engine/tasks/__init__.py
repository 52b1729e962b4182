"""Task types: what a task's data, head, metrics and predictions look like.

Each task type is one module (`single_label.py`, `multi_label.py`, `regression.py`) with a
subclass of `base.Task`, registered in `registry.py`; the data preparation, the loop,
evaluation, checkpoints and prediction call its methods and never ask which task runs.
`detection.py` picks the task for `task = "auto"` and finds the shape of multi-label data.
Token classification and masked-LM pre-training join as further modules and registrations.
"""
