"""Readable console progress for `ftstudio train`: one line per report, no progress-bar noise."""

from __future__ import annotations

import sys
import time
from typing import Any

from ftstudio.engine.events import CheckpointEvent, EvalEvent, Reporter, StepEvent


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ConsoleReporter(Reporter):
    """Prints the run's events to stdout; phase progress redraws in place on a terminal."""

    def __init__(self, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.out = stream or sys.stdout
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self._progress_shown = False
        self._last_progress = 0.0

    def _print(self, text: str) -> None:
        if self._progress_shown:
            self._write("\n")
            self._progress_shown = False
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            # The terminal went away (SIGHUP: EIO) or the pipe's reader ended (EPIPE): the run
            # folder keeps every event, so the run goes on (or stops and saves) regardless.
            pass

    def on_status(self, status: str, message: str = "") -> None:
        if status in ("stopping", "stopped", "failed", "finished") and not message:
            return
        if not self.quiet and status in ("preparing", "paused"):
            self._print(f"[{status}]")

    def on_log(self, message: str) -> None:
        if not self.quiet:
            self._print(message)

    def on_progress(self, phase: str, done: int, total: int) -> None:
        if self.quiet or not self.tty:
            return
        now = time.monotonic()
        if done < total and now - self._last_progress < 0.2:
            return
        self._last_progress = now
        self._write(f"\r{phase}: {done}/{total}   ")
        self._progress_shown = done < total
        if done >= total:
            self._write("\r" + " " * (len(phase) + 30) + "\r")

    def on_info(self, info: dict[str, Any]) -> None:
        if self.quiet:
            return
        self._print(f"Run folder: {info['run_dir']}")
        if info.get("objective"):  # pre-training: rows are blocks of tokens, and there are no labels
            texts = (info.get("data_summary") or {}).get("labels") or {}
            unit = "blocks" if texts.get("packed") else "texts"
            self._print(f"Data: {texts.get('texts', '?'):,} training texts, {texts.get('tokens', 0):,} tokens: "
                        f"{info['train_rows']:,} train / {info['validation_rows']:,} validation {unit}, "
                        f"task: {info.get('task_title')}")
            return
        self._print(
            f"Data: {info['train_rows']} train / {info['validation_rows']} validation rows, "
            f"task: {info.get('task_title', 'single-label classification')}, labels: {', '.join(info['label_names'])}"
        )

    def on_step(self, event: StepEvent) -> None:
        if self.quiet:
            return
        self._print(
            f"step {event.step:>6}/{event.total_steps}  epoch {event.epoch:5.2f}  loss {event.loss:.4f}  "
            f"lr {event.learning_rate:.2e}  {event.samples_per_second:7.1f} samples/s  "
            f"elapsed {_duration(event.elapsed)}  eta {_duration(event.eta)}"
        )

    def on_eval(self, event: EvalEvent) -> None:
        from ftstudio.engine.tasks.metric_names import metric_label

        shown = "  ".join(f"{metric_label(name)} {value:.4f}" for name, value in event.metrics.items())
        self._print(f"{event.split} @ step {event.step}: loss {event.loss:.4f}  {shown}")

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        if not self.quiet:
            self._print(f"checkpoint saved: {event.path}{'  (best so far)' if event.is_best else ''}")

    def close(self) -> None:
        if self._progress_shown:
            self._write("\n")
