"""One fine-tuning run: its plan, the loop, evaluation, and the child process the window uses.

`train.py` is the entry point (`train(settings, ...)`), `plan.py` names what a run starts from
(new, resumed, restarted after running out of memory), `preparation.py` makes a plan ready to
train, `trainer.py` steps the loop (`optimization.py` builds its optimizer and schedule),
`evaluation.py` measures a split, `outcome.py` writes how a run ended, `child_process.py` runs
`train` in a process of its own.
"""
