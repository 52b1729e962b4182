"""The run folder, the truth on disk: writes that survive kills, checkpoints, the run lock, listing.

`atomic.py` writes files and folders atomically; `lock.py` holds the lock of the process training a
run; `folder.py` creates a run folder and reads and writes its files; `listing.py` summarises past
runs; `checkpoints.py` saves, finds and recovers checkpoints; `recorder.py` is the reporter that
writes every event into the run folder.
"""
