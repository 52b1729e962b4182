"""The command line: `ftstudio` opens the window, `ftstudio train|predict|runs|models|data` work headless.

`main.py` parses the arguments and runs each command on the engine; `reporter.py` prints a run's
progress to the console. The window and the CLI share every line of engine code they run.
"""
