"""One worker of a group started by `launch` (`ftstudio --group-worker`).

Every worker reads the run's request from the environment and calls `train()`, which sees the
launcher's RANK/WORLD_SIZE and joins the group. Rank 0 calls the launcher back on its local
socket and reports there in the training child's protocol (events, then the result) and takes
stop/pause/resume from it; a launcher that went away is a stop, as a window that went away is for
the training child. The other ranks report nothing: rank 0 speaks for the group. Shutdown signals
(the launcher forwards its own) stop the run at the next step, agreed by all ranks, and saved.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading

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
    ShutdownHandlers(control, interrupt=INTERRUPT_STOPS).install()
    reporter: Reporter = Reporter()
    if group.is_main:
        reporter = _report_to_launcher(os.environ.get(CHANNEL_ENV, ""), control)
    quiet_training_libraries()
    result = run_request(request, reporter, control)
    if isinstance(reporter, StreamReporter):
        reporter.send({"result": result})
        reporter.close()
    return 1 if result["status"] == FAILED else 0


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

