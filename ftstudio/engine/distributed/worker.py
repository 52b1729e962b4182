"""One worker of a group started by `launch` (`ftstudio --group-worker`).

Every worker reads the run's request from the environment and calls `train()`, which sees the
launcher's RANK/WORLD_SIZE and joins the group. Rank 0 calls the launcher back on its local
socket and reports there in the training child's protocol (events, then the result) and takes
stop/pause/resume from it; a launcher that went away is a stop, as a window that went away is for
the training child. The other ranks report nothing: rank 0 speaks for the group. Shutdown signals
(the launcher forwards its own) stop the run at the next step, agreed by all ranks, and saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from typing import NoReturn

from ftstudio.engine.events import FAILED, Reporter, TrainingControl
from ftstudio.engine.training.child_process import StreamReporter, read_commands, run_request
from ftstudio.engine.training.shutdown import INTERRUPT_STOPS, ShutdownHandlers

CONNECT_TIMEOUT_SECONDS = 60


def worker_main() -> int:
    """Entry point of a group worker; 0 when the run finished or stopped, 1 when it failed."""
    import faulthandler
    import warnings

    from ftstudio.engine.distributed.environment import launched_group
    from ftstudio.engine.distributed.launch import CHANNEL_ENV, REQUEST_ENV
    from ftstudio.engine.library_output import quiet_training_libraries

    faulthandler.enable()
    warnings.filterwarnings("ignore")
    request = json.loads(os.environ.get(REQUEST_ENV) or "{}")
    group = launched_group()
    if group is None or not request:
        print("ftstudio: --group-worker is started by ftstudio's launcher, with its request.", file=sys.stderr)
        return 2
    control = TrainingControl()
    # (rank 0 announces a signal; the others, which got the same one, keep quiet)
    quiet = {} if group.is_main else {"say": _silent}
    ShutdownHandlers(control, interrupt=INTERRUPT_STOPS, **quiet).install()
    reporter: Reporter = Reporter()
    if group.is_main:
        reporter = _report_to_launcher(os.environ.get(CHANNEL_ENV, ""), control)
    quiet_training_libraries()
    result = run_request({**request, "in_group": True}, reporter, control)
    if isinstance(reporter, StreamReporter):
        reporter.send({"result": result})
        reporter.close()
    if result["status"] != FAILED:
        return 0
    _leave_message(result["message"])
    # An input error is every rank's alike and rank 0 reports it: another rank ending first
    # with an error status would make the launcher end rank 0 before it did.
    return 0 if result.get("input_error") and not group.is_main else 1


def exit_worker(code: int) -> NoReturn:
    """End the worker without the interpreter's teardown. Tearing down torch.distributed's C++
    objects at interpreter exit can abort ("terminate called without an active exception", seen
    on a rank after a stopped FSDP run), and the launcher then reports a run that stopped cleanly
    as killed. Everything the run writes is closed by the time `worker_main` returns."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _silent(text: str) -> None:
    pass


def _leave_message(message: str) -> None:
    """The failure's message where the launcher reads why a worker failed (torchelastic's
    error file), so a failure on a rank other than 0 is reported in its own words."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"message": message, "timestamp": int(time.time())}, handle)
    except OSError:
        pass


def _report_to_launcher(address: str, control: TrainingControl) -> StreamReporter:
    """Rank 0's reporter: JSON lines to the launcher's socket; its commands to `control`."""
    host, port, token = address.rsplit(":", 2)
    connection = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS)
    connection.settimeout(None)
    events = connection.makefile("w", encoding="utf-8", buffering=1)
    events.write(token + "\n")
    events.flush()
    commands = connection.makefile("r", encoding="utf-8")
    threading.Thread(target=read_commands, args=(commands, control), name="ftstudio-commands", daemon=True).start()
    return StreamReporter(events, on_lost=lambda: control.request_stop("the launcher going away"))

