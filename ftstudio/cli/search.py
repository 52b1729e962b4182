"""`ftstudio search`: a hyperparameter study on Optuna, each trial an ordinary run folder.

The fixed settings come as for `train` (defaults < --config < --set < flags); the searched ones
from --space space.toml. Several `ftstudio search` processes given the same --storage and
--study-name share the study. The engine's `run_search` does the work; this module parses,
prints and maps the outcome to an exit status.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from ftstudio.cli.train_flags import add_settings_sources
from ftstudio.engine.events import EvalEvent
from ftstudio.engine.search.results import TrialRow, format_duration, format_param, format_value
from ftstudio.engine.search.runner import SearchReporter
from ftstudio.engine.search.study import PRUNERS, SAMPLERS
from ftstudio.engine.tasks.metric_names import metric_label


def add_search_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    search = subparsers.add_parser(
        "search", help="search hyperparameters (Optuna study in a database; each trial is a run)",
        description="Search hyperparameters: run trials that vary the settings of --space space.toml "
                    "(a [space] table: learning_rate = { low = 1e-5, high = 3e-4, log = true }, "
                    "strategy = [\"full\", \"bottom-3\"], batch_size = [16, 32]). The other settings are fixed, "
                    "as for 'train': defaults < --config < --set < flags. Each trial is a run folder in "
                    "--output; the best trial's settings are written to OUTPUT/best_settings.toml.")
    study = search.add_argument_group("the study")
    study.add_argument("--space", metavar="SPACE_TOML", help="the searched settings (a TOML file with [space])")
    study.add_argument("--trials", type=int, default=None, metavar="N",
                       help="trials in the study, counted over every worker (default 20; grid: every point once; "
                            "with --resume: a new total)")
    study.add_argument("--output", metavar="STUDY_DIR",
                       help="the study folder: trial run folders, study.db, best_settings.toml "
                            "(default: a new search-... folder in the runs dir)")
    study.add_argument("--storage", metavar="URL",
                       help="the study's database as an SQLAlchemy URL (default sqlite:///STUDY_DIR/study.db; "
                            "postgresql://... for workers on several machines)")
    study.add_argument("--study-name", metavar="NAME", help="the study's name in the database (default: the folder's)")
    study.add_argument("--sampler", choices=SAMPLERS, default="tpe",
                       help="tpe (model-based, default), random, or grid (every combination of listed values)")
    study.add_argument("--pruner", choices=PRUNERS, default="median",
                       help="stop trials that fall behind at the same point of training: median (default), "
                            "hyperband, or none")
    study.add_argument("--resume", action="store_true",
                       help="continue the study in --output (or --storage/--study-name) with its own space and "
                            "settings; trials cut short by a crash or a stop are run again")
    study.add_argument("--keep", choices=("best", "all"), default="best",
                       help="what each finished trial folder keeps: best/ only (default) or every checkpoint")
    study.add_argument("--quiet", action="store_true", help="only print each trial's result and the summary")
    add_settings_sources(search, "fixed ")
    return search


def cmd_search(args: argparse.Namespace) -> int:
    from ftstudio.cli.main import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, settings_from_args
    from ftstudio.cli.train_flags import flag_values
    from ftstudio.engine.errors import SettingsError, one_line
    from ftstudio.engine.events import TrainingControl
    from ftstudio.engine.search.runner import SearchRequest, run_search
    from ftstudio.engine.search.space import load_space
    from ftstudio.engine.search.study import StudyOptions
    from ftstudio.engine.training.shutdown import INTERRUPT_STOPS_THEN_QUITS, ShutdownHandlers, exit_status

    if args.resume:
        if args.output is None and args.storage is None:
            raise SettingsError("--resume needs the study's folder (--output STUDY_DIR) or --storage and --study-name.")
        if args.space or args.config or args.overrides or flag_values(args):
            raise SettingsError("--resume continues a study with the space and settings saved in it; give only "
                                "--output (or --storage/--study-name) and, to change the budget, --trials.")
        request = SearchRequest(Path(args.output or "."), storage=args.storage, study_name=args.study_name,
                                resume=True, trials=args.trials, keep=args.keep)
    else:
        if not args.space:
            raise SettingsError("Give the searched settings with --space space.toml (a [space] table, e.g. "
                                "learning_rate = { low = 1e-5, high = 3e-4, log = true }).")
        space = load_space(args.space)
        settings = settings_from_args(args)
        options = StudyOptions(trials=args.trials if args.trials is not None else 20, sampler=args.sampler,
                               pruner=args.pruner, seed=settings.seed)
        request = SearchRequest(Path(args.output) if args.output else _default_study_dir(), settings, space,
                                options.check(), storage=args.storage, study_name=args.study_name, keep=args.keep)
    control = TrainingControl()
    reporter = ConsoleSearchReporter(quiet=args.quiet)
    with ShutdownHandlers(control, interrupt=INTERRUPT_STOPS_THEN_QUITS) as handlers:
        result = run_search(request, reporter, control)
    _print_summary(result)
    if result.status == "finished":
        return EXIT_OK
    if result.status == "stopped":
        print(f"Stopped: {result.message}. Continue with: ftstudio search --resume --output {result.study_dir}")
        return exit_status(handlers.received) if handlers.received is not None else EXIT_STOPPED
    print(f"ftstudio: error: {one_line(result.message)}", file=sys.stderr)
    return EXIT_USAGE if result.input_error else EXIT_FAILED


def _default_study_dir() -> Path:
    from ftstudio.engine.runs.folder import default_runs_dir

    return default_runs_dir() / datetime.now().strftime("search-%Y%m%d-%H%M%S")


def _print_summary(result: Any) -> None:
    from ftstudio.engine.search.results import summary_table

    if not result.rows:
        return
    print()
    print(summary_table(result.rows, result.metric, result.direction))
    if result.best is not None:
        print(f"\nBest: trial {result.best.number}, {result.metric} {format_value(result.best.value)} "
              f"-> {result.best.run_dir}")
        if result.best_settings is not None:
            print(f"Best settings: {result.best_settings}\nTrain with them: ftstudio train --config "
                  f"{result.best_settings}")
    print(f"Study: {result.study_name} in {result.storage}")


class ConsoleSearchReporter(SearchReporter):
    """Prints the study's events, and each trial's validation results, a line each."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.metric = ""

    def _say(self, text: str) -> None:
        try:
            print(text, flush=True)
        except (OSError, ValueError):  # the terminal went away: the study's database keeps it all
            pass

    def on_study(self, info: dict[str, Any]) -> None:
        self.metric = info["metric"]
        self._say(f"Study {info['study_name']} ({info['storage']}): {info['trials']} trials, {info['sampler']} "
                  f"sampler, {info['pruner']} pruner, {info['direction']} validation {info['metric']}; "
                  f"searching {', '.join(info['space'])}")

    def on_trial_started(self, number: int, params: dict[str, Any], run_dir: str) -> None:
        shown = ", ".join(f"{name}={format_param(value)}" for name, value in params.items())
        self._say(f"trial {number}: {shown}  -> {run_dir}")

    def on_eval(self, event: EvalEvent) -> None:
        if self.quiet or event.split != "validation":
            return
        shown = f"  {metric_label(self.metric)} {event.metrics[self.metric]:.4f}" if self.metric in event.metrics else ""
        self._say(f"  epoch {event.epoch:4.2f}  step {event.step}: loss {event.loss:.4f}{shown}")

    def on_status(self, status: str, message: str = "") -> None:
        if status == "failed" and message:
            self._say(f"  failed: {message.splitlines()[0]}")

    def on_trial_ended(self, row: TrialRow, is_best: bool) -> None:
        text = f"trial {row.number} {row.state}"
        if row.value is not None:
            text += f": {format_value(row.value)}"
        if row.state == "pruned":
            text += f" ({row.message})"
        self._say(text + f" in {format_duration(row.duration)}" + ("  (best so far)" if is_best else ""))
