"""ftstudio through the window, in a child process: `python benchmarks/gui_path.py MODE CONFIG OUT`.

- `train`: the real `MainWindow` (offscreen), its Train tab's `TrainingPanel` started with the
  case's settings: the run goes through `TrainingSession` -> `TrainingWorker` on a QThread ->
  the training child process (engine/training_process.py) -> events -> signals -> live plots,
  exactly as a click on Start. Peak memory is the window's plus the child's. A 10 ms precise
  QTimer on the UI thread records how late each tick is: its worst and 99th-percentile lateness
  are how long the event loop was blocked while training.
- `launch`: time from spawning `python -m ftstudio` until its window has been shown and painted
  once (QApplication.exec is replaced, in the child only, by one round of event processing that
  reports the time and exits).
- `tester`: `Predictor` on a finished run's best checkpoint; the latency of one sentence, after
  the model is loaded (what the Test tab waits for per keystroke-triggered prediction).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, Clock, load_config, peak_rss_mb, quiet_libraries, write_result  # noqa: E402
from report import TARGETS  # noqa: E402

TICK_MS = 10
UI_TARGET_MS = TARGETS["ui_block_ms"]


def _offscreen_env(scratch: Path) -> None:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # The window remembers choices in QSettings: keep the user's own file out of it.
    os.environ["XDG_CONFIG_HOME"] = str(scratch / "config")


class LatenessProbe:
    """A precise timer on the UI thread; each tick's lateness past its interval, in ms.

    With each tick it also keeps what explains a late one: the CPU time the UI thread itself used
    in the interval (its own work: an event handler, a paint) and the CPU time the hypervisor
    took from this VM meanwhile (`/proc/stat` steal, 10 ms resolution, all cores): a tick late
    while the VM was descheduled measures the other guests, not the window.
    """

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.samples: list[float] = []
        self.ui_cpu_ms: list[float] = []
        self.steal_ms: list[float] = []
        self.marks: dict[str, int] = {}
        self.cpu_at: dict[str, tuple[float, dict[str, float]]] = {}
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._stat = _open_proc_stat()
        self._last_steal = self._steal_ms()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last, self._last_cpu, self._last_steal = time.perf_counter(), time.thread_time(), self._steal_ms()
        self.timer.start()

    def mark(self, name: str) -> None:
        if name not in self.marks:
            self.marks[name] = len(self.samples)
            self.cpu_at[name] = (time.perf_counter(), thread_cpu_seconds())

    def _steal_ms(self) -> float:
        """Steal so far, summed over this VM's cores, in ms (0 where /proc/stat is missing)."""
        if self._stat is None:
            return 0.0
        self._stat.seek(0)
        fields = self._stat.read(256).split(b"\n", 1)[0].split()
        return int(fields[8]) * 1000.0 / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0

    def _tick(self) -> None:
        now, cpu, steal = time.perf_counter(), time.thread_time(), self._steal_ms()
        self.samples.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self.ui_cpu_ms.append((cpu - self._last_cpu) * 1000)
        self.steal_ms.append(steal - self._last_steal)
        self._last, self._last_cpu, self._last_steal = now, cpu, steal

    def summary(self, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """Worst and 99th-percentile lateness between two marks, and the ticks later than the
        target (at most 10, worst first) with the UI thread's CPU and the steal in their interval."""
        # The first tick after `start` measures an interval that began before it: left out.
        first = self.marks[start] + 1 if start in self.marks else 0
        last = self.marks.get(end) if end else None
        part = self.samples[first:last]
        if not part:
            return {"ticks": 0, "max_ms": 0.0, "p99_ms": 0.0, "stalls": []}
        ordered = sorted(part)
        late = sorted(range(first, first + len(part)), key=lambda i: -self.samples[i])
        # The guest kernel books steal at its next timer tick after the VM runs again, which
        # can fall after our late tick: a stall's steal is its interval's and the next one's.
        stalls = [{"late_ms": round(self.samples[i], 1), "ui_cpu_ms": round(self.ui_cpu_ms[i], 1),
                   "steal_ms": round(sum(self.steal_ms[i: i + 2]), 1)}
                  for i in late[:10] if self.samples[i] > UI_TARGET_MS]
        return {"ticks": len(part), "max_ms": round(ordered[-1], 1),
                "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1), "stalls": stalls}


def _open_proc_stat():
    try:
        return open("/proc/stat", "rb", buffering=0)  # noqa: SIM115 - read at every tick, closed with the process
    except OSError:
        return None


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the window's UI (main) thread and by the whole window process
    (Linux /proc for the thread; empty elsewhere). The training child is not in either."""
    try:
        fields = Path(f"/proc/self/task/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return {}
    times = os.times()
    return {"ui": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"),
            "window_process": times.user + times.system}


def cpu_during(probe: LatenessProbe, start: str, end: str) -> dict[str, float]:
    """What the window's UI thread and the whole window process used between two marks (the
    training child excluded), in CPU seconds and as a share of the wall time (1.0 = one core)."""
    if start not in probe.cpu_at or end not in probe.cpu_at:
        return {}
    (t0, before), (t1, after) = probe.cpu_at[start], probe.cpu_at[end]
    wall = max(t1 - t0, 1e-9)
    out = {"seconds": round(wall, 2)}
    for key in before:
        used = after.get(key, 0.0) - before[key]
        out[f"{key}_cpu_seconds"] = round(used, 2)
        out[f"{key}_cpu_share"] = round(used / wall, 3)
    return out


def run_train(cfg: dict[str, Any]) -> dict[str, Any]:
    from peers import ftstudio_result, ftstudio_settings
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ftstudio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["ftstudio-benchmark"])
    scratch = Path(cfg["scratch"])
    window = MainWindow(runs_dir=scratch / "gui-runs")
    window.confirm_close = lambda: True
    window.show()
    _settle(app, window)
    panel = window.training_panel
    panel.show_dialogs = False
    settings = ftstudio_settings(cfg)
    panel.settings_provider = lambda: settings
    probe = LatenessProbe()
    outcome: dict[str, Any] = {}
    loop = QEventLoop()

    def on_status(status: str, _message: str) -> None:
        if status == "training":
            probe.mark("training")

    def on_finished(result: dict) -> None:
        probe.mark("finished")
        outcome.update(result, wall=clock())
        QTimer.singleShot(0, loop.quit)

    logs: list[str] = []
    window.session.sig_log.connect(logs.append)
    window.session.sig_status.connect(on_status)
    window.session.sig_finished.connect(on_finished)
    probe.start()
    clock = Clock()
    if not panel.start():
        raise RuntimeError("The training panel refused to start: " + panel.banner.text())
    loop.exec()
    probe.timer.stop()
    window.shutdown()
    window.close()
    if outcome.get("status") != "finished":
        raise RuntimeError(f"GUI run ended {outcome.get('status')}: {outcome.get('message')}")
    result = ftstudio_result(Path(outcome["run_dir"]), outcome["wall"])
    result["feature_cache"] = any("head-only feature cache on" in line for line in logs)
    result["ui_lateness_training"] = probe.summary("training", "finished")
    result["ui_lateness_whole_run"] = probe.summary()
    result["cpu_during_training"] = cpu_during(probe, "training", "finished")
    # Both processes are alive during the run: the window's peak plus the training child's.
    window_peak, child_peak = peak_rss_mb(), peak_rss_mb(children=True)
    result.update(window_peak_rss_mb=round(window_peak, 1), training_process_peak_rss_mb=round(child_peak, 1),
                  peak_rss_mb=round(window_peak + child_peak, 1))
    result["plot_points"] = panel.plots.point_counts()
    return result


def _settle(app: Any, window: Any, seconds: float = 60.0) -> None:
    """Let the window finish what it starts on its own (run panels, model and data previews)
    before training, so their work is not charged to the run."""
    deadline = time.perf_counter() + seconds
    quiet_since = None
    while time.perf_counter() < deadline:
        app.processEvents()
        idle = window._run_panels is not None and not window.runner.busy()
        quiet_since = (quiet_since or time.perf_counter()) if idle else None
        if quiet_since and time.perf_counter() - quiet_since > 1.0:
            return
        time.sleep(0.02)


LAUNCH_CHILD = r"""
import os, runpy, sys, time
spawned = float(sys.argv[1])
from PySide6.QtWidgets import QApplication
def exec_once(*_args, **_kwargs):
    QApplication.processEvents()
    shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    print("SHOWN", time.time() - spawned, len(shown), flush=True)
    os._exit(0)
QApplication.exec = exec_once
sys.argv = ["ftstudio"]
runpy.run_module("ftstudio", run_name="__main__")
"""


def run_launch(cfg: dict[str, Any], repeats: int = 3) -> dict[str, Any]:
    """Seconds from spawning `python -m ftstudio` to its first shown frame (best and median)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(Path(cfg["scratch"]) / "config"))
    times = []
    for _ in range(repeats):
        spawned = time.time()
        out = subprocess.run([sys.executable, "-c", LAUNCH_CHILD, repr(spawned)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
        line = next((x for x in out.stdout.splitlines() if x.startswith("SHOWN")), None)
        if line is None:
            raise RuntimeError("the window never showed: " + out.stderr[-2000:])
        times.append(float(line.split()[1]))
    return {"launch_seconds": times, "launch_best": round(min(times), 3),
            "launch_median": round(statistics.median(times), 3)}


def run_tester(cfg: dict[str, Any], repeats: int = 50) -> dict[str, Any]:
    """One-sentence latency of the tester's Predictor after loading, in ms."""
    from ftstudio.engine.predict.predictor import Predictor

    started = time.perf_counter()
    predictor = Predictor(cfg["checkpoint"])
    load = time.perf_counter() - started
    sentences = ["the flight was delayed again and nobody told us anything",
                 "great crew, thank you!", "where is my bag"]
    predictor.predict(sentences[0])  # the first call pays one-time kernel set-up
    latencies = []
    for i in range(repeats):
        begin = time.perf_counter()
        predictor.predict(sentences[i % len(sentences)])
        latencies.append((time.perf_counter() - begin) * 1000)
    ordered = sorted(latencies)
    return {"load_seconds": round(load, 3), "predict_ms_median": round(statistics.median(latencies), 2),
            "predict_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "predict_ms_max": round(ordered[-1], 2)}


def main(argv: list[str]) -> int:
    mode, config_path, out_path = argv
    cfg = load_config(config_path)
    quiet_libraries()
    from ftstudio.engine.speed.cpu_runtime import configure_cpu_runtime

    configure_cpu_runtime()  # what the app does before torch loads
    scratch = Path(cfg.get("scratch") or tempfile.mkdtemp())
    _offscreen_env(scratch)
    if mode == "train":
        # No torch here: the window process does not load it to train; the training child does
        # (its imports are in wall_to_end, not in train_runtime, as for every peer).
        result = run_train(cfg)
    elif mode == "launch":
        result = run_launch(cfg)
    elif mode == "tester":
        result = run_tester(cfg)
    else:
        raise SystemExit(f"unknown mode {mode}")
    result["peer"] = f"ftstudio_gui_{mode}" if mode != "train" else "ftstudio_gui"
    write_result(out_path, result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (dict, list))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
