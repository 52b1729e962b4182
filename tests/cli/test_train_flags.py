"""The `train` command's flags: one per setting, generated from the declaration, old spellings kept."""

from __future__ import annotations

import argparse
import json

import pytest

from ftstudio.cli.main import build_parser, main, settings_from_args
from ftstudio.cli.train_flags import ALIASES, WITHOUT_FLAG, flag_of
from ftstudio.engine.settings import TrainSettings, setting_specs
from ftstudio.engine.settings.files import settings_to_toml
from tests.engine.settings.extremes import extreme_settings

# Every spelling `ftstudio train` accepted before the flags were generated, with a value to give.
OLD_SPELLINGS = {
    "--model": ("model", "org/model"), "--data": ("data", "reviews.csv"), "--text-column": ("text_column", "body"),
    "--label-column": ("label_column", "stars"), "--epochs": ("epochs", 4), "--max-steps": ("max_steps", 50),
    "--batch-size": ("batch_size", 8), "--grad-accum": ("grad_accum", 2), "--lr": ("learning_rate", 3e-5),
    "--max-length": ("max_length", 64), "--freeze": ("strategy", "bottom-2"),
    "--reinit-top-layers": ("reinit_top_layers", 1), "--layerwise-lr-decay": ("layerwise_lr_decay", 0.9),
    "--scheduler": ("scheduler", "cosine"), "--warmup-ratio": ("warmup_ratio", 0.2),
    "--weight-decay": ("weight_decay", 0.05), "--optimizer": ("optimizer", "sgd"),
    "--dropout": ("classifier_dropout", 0.2), "--seed": ("seed", 7), "--precision": ("precision", "fp32"),
    "--device": ("device", "cpu"), "--eval-steps": ("eval_steps", 10), "--save-steps": ("save_steps", 20),
    "--keep-checkpoints": ("keep_checkpoints", 3), "--patience": ("early_stopping_patience", 2),
    "--max-samples": ("max_samples", 100), "--validation-split": ("validation_split", 0.2),
    "--test-split": ("test_split", 0.1),
}
OLD_SWITCHES = {"--group-by-length": "group_by_length", "--trust-remote-code": "trust_remote_code",
                "--allow-pickle": "allow_pickle", "--oom-retry": "oom_retry"}


def train_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["train"]


def parse_train(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def test_every_setting_has_its_flag_typed_with_choices_and_help():
    actions = {action.dest: action for action in train_parser()._actions}
    for spec in setting_specs():
        if spec.name in WITHOUT_FLAG:
            assert spec.name not in actions
            continue
        action = actions[spec.name]
        assert flag_of(spec.name) in action.option_strings, spec.name
        assert action.default is None, spec.name  # so a file's value is only overridden by a typed flag
        # The declaration's help, what is allowed and the default, as the window's tooltip says it.
        assert action.help == " ".join(spec.explanation()), spec.name
        assert spec.help[1:] in action.help and spec.allowed_text()[1:] in action.help, spec.name
        if spec.value_type is bool:
            assert f"--no-{flag_of(spec.name)[2:]}" in action.option_strings, spec.name
        else:
            assert action.type is spec.value_type, spec.name
            assert tuple(action.choices or ()) == spec.choices, spec.name


def test_every_old_spelling_still_works():
    for flag, (name, value) in OLD_SPELLINGS.items():
        assert getattr(parse_train(flag, str(value)), name) == value, flag
    for flag, name in OLD_SWITCHES.items():
        assert getattr(parse_train(flag), name) is True, flag
        assert getattr(parse_train(f"--no-{flag[2:]}"), name) is False, flag
        assert getattr(parse_train(), name) is None, flag
    for name, aliases in ALIASES.items():
        assert all(alias in OLD_SPELLINGS for alias in aliases), name
    args = parse_train("--set", "seed=3", "--config", "c.toml", "--output", "out", "--resume", "run", "--quiet")
    assert (args.overrides, args.config, args.output, args.resume, args.quiet) == (["seed=3"], "c.toml", "out",
                                                                                   "run", True)


def test_precedence_defaults_then_file_then_set_then_flags(tmp_path):
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"epochs": 5, "batch_size": 4, "seed": 9, "group_by_length": False}))
    args = parse_train("--config", str(config), "--set", "epochs=6", "--set", "batch_size=2", "--epochs", "7",
                       "--group-by-length")
    assert settings_from_args(args) == TrainSettings(epochs=7, batch_size=2, seed=9, group_by_length=True)


@pytest.mark.parametrize("end", ["min", "max"])
@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_settings_file_at_the_extremes_parses_unchanged(tmp_path, end, suffix):
    expected = extreme_settings(end)
    path = tmp_path / f"extreme{suffix}"
    if suffix == ".toml":
        path.write_text(settings_to_toml(expected.to_dict(), setting_specs()), encoding="utf-8")
    else:
        path.write_text(json.dumps(expected.to_dict()), encoding="utf-8")
    assert settings_from_args(parse_train("--config", str(path))) == expected


@pytest.mark.parametrize("end", ["min", "max"])
def test_every_extreme_can_be_given_as_a_flag(end):
    expected = extreme_settings(end)
    argv: list[str] = []
    for spec in setting_specs():
        value = getattr(expected, spec.name)
        if spec.name in WITHOUT_FLAG or value is None:
            continue
        if spec.value_type is bool:
            argv.append(flag_of(spec.name) if value else f"--no-{flag_of(spec.name)[2:]}")
        else:
            argv += [flag_of(spec.name), repr(value) if isinstance(value, float) else str(value)]
    assert settings_from_args(parse_train(*argv)) == expected.replace(extra={})


@pytest.mark.parametrize("argv, needle", [
    (["--scheduler", "nope"], "--scheduler"),
    (["--seed", "-1"], "seed: must be between 0 and 4294967295"),
    (["--epochs", "three"], "--epochs"),
    (["--warmup-ratio", "1"], "warmup_ratio: must be at least 0 (none) and below 1"),
    (["--set", "epochs=0"], "epochs: must be between 1 and 1000"),
])
def test_a_bad_value_is_one_line_and_exit_2(capsys, runs_dir, argv, needle):
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_resume_refuses_any_setting_flag(capsys, tmp_path, runs_dir):
    for flag in ("--no-group-by-length", "--lr", "--learning-rate", "--seed"):
        argv = ["train", "--resume", str(tmp_path), flag] + ([] if flag.startswith("--no-") else ["1"])
        assert main(argv) == 2, flag
        assert "only --resume" in capsys.readouterr().err, flag
