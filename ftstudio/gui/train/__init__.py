"""The Train tab: start, pause, resume and stop a run; its state, progress, live plots, log and checkpoints.

`session.py` owns the worker thread, `worker.py` waits on the training child process.
"""
