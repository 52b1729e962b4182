"""One fine-tuning run: its plan, the loop, evaluation, and the child process the window uses.

`train.py` is the entry point (`train(settings, ...)`), `plan.py` names what a run starts from
(new, resumed, restarted after running out of memory), `trainer.py` steps the loop,
`evaluation.py` measures a split, `child_process.py` runs `train` in a process of its own.
"""
