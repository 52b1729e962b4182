"""`ftstudio`: the window with no arguments; `train`, `predict`, `runs`, `models`, `data` headless.

Every user error ends with one line on stderr and exit status 2, never a traceback. The CLI runs
exactly the engine code the window runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ftstudio.cli.job import add_job_parser, cmd_job
from ftstudio.cli.runs import cmd_runs
from ftstudio.cli.search import add_search_parser, cmd_search
from ftstudio.cli.train_flags import add_settings_sources, flag_values
from ftstudio.engine.distributed.launch import WORKER_ARGUMENT
from ftstudio.engine.errors import FtStudioError, SettingsError, one_line, user_message
from ftstudio.engine.training.child_process import CHILD_ARGUMENT

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 130

class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"ftstudio: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from ftstudio import __version__

    parser = _Parser(prog="ftstudio", description="Fine-Tuning Studio. Without a command, opens the window.")
    parser.add_argument("--version", action="version", version=f"ftstudio {__version__}")
    parser.add_argument("--runs-dir", help="folder holding the runs (default: $FTSTUDIO_RUNS_DIR or the user data folder)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = sub.add_parser("train", help="fine-tune a model headless",
                           description="Fine-tune a model (headless). Every setting has a flag; precedence: "
                                       "defaults < --config file < --set < flags.")
    add_settings_sources(train)
    train.add_argument("--output", help="new run folder (default: a fresh folder in the runs dir)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="only print evaluations and the result")

    predict = sub.add_parser("predict", help="predict with a checkpoint or run, or test it on a labelled file",
                             description="Predict with a checkpoint or run folder. A classifier prints labels and "
                                         "probabilities; a pre-training run's masked language model prints its "
                                         "guesses for each [MASK] in the text, a decoder its continuation and the "
                                         "next token's probabilities.")
    predict.add_argument("checkpoint", help="checkpoint folder or run folder (uses best/)")
    predict.add_argument("texts", nargs="*",
                         help="texts to predict ('-' reads lines from stdin; for a pair model each line is "
                              "text<TAB>second text)")
    predict.add_argument("--pair", action="append", metavar="TEXT",
                         help="a pair model's second text, once per text, in order")
    predict.add_argument("--file", metavar="DATA",
                         help="a labelled data file: print the task's metrics on it instead of predictions "
                              "(a language model: its perplexity on a .txt file, one text per line)")
    predict.add_argument("--json", action="store_true", help="print JSON lines")
    predict.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    predict.add_argument("--top-k", type=int, default=10, metavar="N",
                         help="language models: how many guesses per mask, or next tokens, to print")
    predict.add_argument("--max-new-tokens", type=int, default=40, metavar="N",
                         help="decoder language models: how many tokens the printed continuation has")

    runs = sub.add_parser("runs", help="list past runs, or show one (with its lineage)")
    runs.add_argument("run", nargs="?", help="a run id (or its start) or run folder: show that run in full")
    runs.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("models", help="list the embedded model and models in the Hugging Face cache")

    data = sub.add_parser("data", help="check a dataset and summarise it")
    data.add_argument("data", help="sample, a file, or a Hub dataset")
    data.add_argument("--task", default="auto",
                      help="auto, single-label, multi-label, regression, token-classification or pretrain")
    data.add_argument("--text-column")
    data.add_argument("--text-pair-column")
    data.add_argument("--label-column")
    data.add_argument("--label-separator")
    data.add_argument("--model", default="default", help="tokenizer used for token lengths")
    data.add_argument("--max-length", type=int, default=128)
    data.add_argument("--pack-texts", action=argparse.BooleanOptionalAction, default=True,
                      help="pretrain: texts joined into blocks of max-length tokens (default), or one per row")
    add_search_parser(sub)
    add_job_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ftstudio.engine.speed.cpu_runtime import configure_cpu_runtime

    configure_cpu_runtime()  # before anything loads torch: its OpenMP reads the environment once
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_ARGUMENT]:  # the window's training process (engine/training/child_process.py)
        from ftstudio.engine.training.child_process import child_main

        return child_main()
    if argv[:1] == [WORKER_ARGUMENT]:  # one process of a local group (engine/distributed/launch.py)
        from ftstudio.engine.distributed.worker import exit_worker, worker_main

        exit_worker(worker_main())
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed in one line
        return int(exc.code or 0)
    if args.runs_dir:
        os.environ["FTSTUDIO_RUNS_DIR"] = str(Path(args.runs_dir).expanduser())
    if args.command is None:
        from ftstudio.gui.app import main as gui_main

        return gui_main([])
    _quiet_libraries()
    try:
        return {"train": cmd_train, "predict": cmd_predict, "runs": cmd_runs, "models": cmd_models,
                "data": cmd_data, "job": cmd_job, "search": cmd_search}[args.command](args)
    except FtStudioError as exc:
        print(f"ftstudio: error: {user_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ftstudio: interrupted.", file=sys.stderr)
        return EXIT_STOPPED


def _quiet_libraries() -> None:
    """Progress bars and advisory warnings of the HF libraries would drown our own lines."""
    from ftstudio.engine.library_output import quiet_progress_bars_early

    quiet_progress_bars_early()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings

    warnings.filterwarnings("ignore")


# ------------------------------------------------------------------ train
def settings_from_args(args: argparse.Namespace) -> Any:
    """The settings a `train` command line asks for, validated.

    Precedence: defaults < --config file < --set overrides < explicit flags.
    """
    from ftstudio.engine.settings import TrainSettings

    settings = TrainSettings.load(args.config) if args.config else TrainSettings()
    values: dict[str, Any] = {}
    for item in args.overrides:
        if "=" not in item:
            raise SettingsError(f"--set expects NAME=VALUE, got '{item}'.")
        name, value = item.split("=", 1)
        values[name.strip()] = value.strip()
    values.update(flag_values(args))
    merged = {**settings.to_dict(), **values}
    return TrainSettings.from_dict(merged, source="command line").validate()


def cmd_train(args: argparse.Namespace) -> int:
    from ftstudio.cli.reporter import ConsoleReporter
    from ftstudio.engine.events import Reporter, TrainingControl
    from ftstudio.engine.training.shutdown import INTERRUPT_STOPS_THEN_QUITS, ShutdownHandlers
    from ftstudio.engine.training.train import train

    control = TrainingControl()
    # Under torchrun or srun every process runs this command; rank 0 alone prints.
    reporter = ConsoleReporter(quiet=args.quiet) if _speaks_for_the_group() else Reporter()
    processes = None
    if args.resume:
        flags = flag_values(args)
        processes = flags.pop("processes", None)  # where it trains, not what: may change on resume
        if processes is not None and processes < 1:
            raise SettingsError(f"--processes must be 1 or more, got {processes}.", "processes")
        if args.config or args.output or args.overrides or flags:
            raise SettingsError("--resume continues a run with the settings saved in it; give only --resume RUN_DIR "
                                "(and --processes N to continue on another number of processes).")
        settings = None
    else:
        settings = settings_from_args(args)
    # Ctrl-C, SIGTERM, SIGHUP (SIGBREAK on Windows): stop at the next step and save it.
    quiet = {} if _speaks_for_the_group() else {"say": lambda text: None}
    with ShutdownHandlers(control, interrupt=INTERRUPT_STOPS_THEN_QUITS, **quiet) as handlers:
        result = train(settings, run_dir=args.resume or args.output, reporter=reporter, control=control,
                       resume=bool(args.resume), processes=processes)
    if isinstance(reporter, ConsoleReporter):
        reporter.close()
    if not _speaks_for_the_group():
        return _exit_status_of(result, handlers.received)
    try:
        return _report_result(result, handlers.received)
    except OSError:  # the terminal went away (SIGHUP) or stdout's reader ended: the run folder says it all
        return _exit_status_of(result, handlers.received)


def _speaks_for_the_group() -> bool:
    """True unless this is a rank other than 0 of a launched group (torchrun, srun)."""
    from ftstudio.engine.distributed.environment import launched_group

    group = launched_group()
    return group is None or group.is_main


def _report_result(result: Any, signum: int | None) -> int:
    if result.status == "finished":
        print(f"Finished. Run folder: {result.run_dir}")
        if result.best:
            print(f"Best {result.best['metric']}: {result.best['value']:.4f} at step {result.best['step']} "
                  f"-> {result.run_dir / 'best'}")
    elif result.status == "stopped":
        print(result.message)
        if result.run_dir and "--resume" not in result.message:
            print(f"Resume with: ftstudio train --resume {result.run_dir}")
    else:
        print(f"ftstudio: error: {one_line(result.message)}", file=sys.stderr)
    return _exit_status_of(result, signum)


def _exit_status_of(result: Any, signum: int | None) -> int:
    """0 finished; a stop: 128 + the signal that asked for it, as a shell reports a process that
    signal ended (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), else 130; failures 1 (2: the input's)."""
    from ftstudio.engine.training.shutdown import exit_status

    if result.status == "finished":
        return EXIT_OK
    if result.status == "stopped":
        return exit_status(signum) if signum is not None else EXIT_STOPPED
    return EXIT_USAGE if result.input_error else EXIT_FAILED


# ------------------------------------------------------------------ predict / runs / models / data
def cmd_predict(args: argparse.Namespace) -> int:
    from ftstudio.cli.predictions import print_evaluation, print_prediction, read_inputs
    from ftstudio.engine.predict.predictor import load_predictor

    if not args.texts and not args.file:
        raise SettingsError("Give texts to predict, '-' to read them from stdin, or --file DATA to test on a file.")
    if args.top_k < 1 or args.max_new_tokens < 0:
        raise SettingsError("--top-k must be at least 1 and --max-new-tokens at least 0.")
    predictor = load_predictor(args.checkpoint, device=args.device)
    from ftstudio.engine.predict.language_model import LanguageModelPredictor

    if isinstance(predictor, LanguageModelPredictor):
        return _predict_language_model(args, predictor)
    if args.file:
        from ftstudio.engine.predict.file_evaluation import evaluate_file

        print_evaluation(evaluate_file(predictor, args.file), args.json)
        return EXIT_OK
    texts, pairs = read_inputs(args.texts, args.pair, predictor.takes_pairs, sys.stdin)
    for prediction in predictor.predict(texts, pairs=pairs):
        print_prediction(prediction, args.json)
    return EXIT_OK


def _predict_language_model(args: argparse.Namespace, predictor: Any) -> int:
    """A pre-training run's predictions: each mask's likeliest words, or the continuation and the
    next token's probabilities; with --file, its perplexity on a text file."""
    from ftstudio.cli.predictions import language_model_answer, print_language_model_answer, read_inputs

    if args.file:
        from ftstudio.cli.predictions import print_perplexity
        from ftstudio.engine.predict.text_perplexity import text_perplexity

        print_perplexity(text_perplexity(predictor, args.file), Path(args.file).name, args.json)
        return EXIT_OK
    if args.pair:
        raise SettingsError("--pair is only for classifiers trained on text pairs; this is a language model.")
    texts, _ = read_inputs(args.texts, None, False, sys.stdin)
    for text in texts:
        print_language_model_answer(language_model_answer(predictor, text, args.top_k, args.max_new_tokens), args.json)
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from ftstudio.engine.models.files import list_cached_models
    from ftstudio.engine.models.sources import default_model_path

    print(f"default    all-MiniLM-L6-v2 (embedded)  {default_model_path()}")
    for model in list_cached_models():
        print(f"cache      {model.repo_id}  ({model.model_type}, {model.size_bytes / 1e6:.0f} MB)")
    return EXIT_OK


def cmd_data(args: argparse.Namespace) -> int:
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.data.summary import format_summary, summarize
    from ftstudio.engine.models.loading import load_tokenizer
    from ftstudio.engine.models.sources import resolve_model_source
    from ftstudio.engine.settings import TrainSettings

    settings = TrainSettings(data=args.data, task=args.task, text_column=args.text_column,
                             text_pair_column=args.text_pair_column, label_column=args.label_column,
                             label_separator=args.label_separator, max_length=args.max_length).validate()
    prepared = prepare_data(settings)
    tokenizer = load_tokenizer(resolve_model_source(args.model))
    print(format_summary(summarize(prepared, tokenizer, args.max_length, pack_texts=args.pack_texts)))  # notes too
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
