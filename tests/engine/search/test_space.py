"""The search space: every entry checked against the setting's own declaration, refused in words."""

from __future__ import annotations

import pytest

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.search.space import load_space, parse_space
from ftstudio.engine.settings import TrainSettings


def space(**entries):
    return parse_space({"space": entries})


def test_the_issue_example_parses_with_each_value_of_the_setting_type(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('[space]\nlearning_rate = { low = 1e-5, high = 3e-4, log = true }\n'
                    'freeze = ["full", "bottom-3"]\nbatch_size = [16, 32]\n', encoding="utf-8")
    parsed = load_space(path)
    assert parsed.names == ["learning_rate", "strategy", "batch_size"]  # freeze: strategy's old name
    rate = parsed.dimension("learning_rate")
    assert (rate.low, rate.high, rate.log, rate.is_range) == (1e-5, 3e-4, True, True)
    assert parsed.dimension("batch_size").choices == (16, 32)
    assert parsed.to_mapping()["strategy"] == ["full", "bottom-3"]
    assert load_space(_saved(parsed, tmp_path)).to_mapping() == parsed.to_mapping()


def _saved(parsed, tmp_path):
    path = tmp_path / "again.toml"
    parsed.save(path)
    return path


@pytest.mark.parametrize(("entries", "words"), [
    ({"learning_rat": {"low": 1e-5, "high": 1e-4}}, "unknown setting 'learning_rat'"),
    ({"learning_rate": {"low": 1e-4, "high": 1e-5}}, "the range is empty"),
    ({"learning_rate": {"low": 1e-4, "high": 1e-4}}, "the range is empty"),
    ({"batch_size": []}, "the list of values is empty"),
    ({"batch_size": ["big"]}, "must be a whole number"),
    ({"batch_size": {"low": 8.5, "high": 32}}, "low must be a whole number"),
    ({"batch_size": [16, 16]}, "listed twice"),
    ({"learning_rate": {"low": 0.0, "high": 1e-3, "log": True}}, "a log range needs low above 0"),
    ({"learning_rate": {"low": 1e-5, "high": 1e-3, "log": "yes"}}, "log must be true or false"),
    ({"learning_rate": {"low": 1e-5, "high": 1e-3, "log": True, "step": 1e-5}}, "not both"),
    ({"learning_rate": {"low": 1e-5, "hi": 1e-3}}, "unknown key 'hi'"),
    ({"learning_rate": {"low": 1e-5}}, "needs 'high'"),
    ({"learning_rate": {"low": -1.0, "high": 1e-3}}, "is not allowed"),
    ({"scheduler": {"low": 1, "high": 2}}, "a range needs a number setting"),
    ({"scheduler": ["linear", "steep"]}, "steep is not allowed"),
    ({"strategy": ["full", "bottom-x"]}, "strategy"),
    ({"learning_rate": 3e-4}, "expected { low = ..., high = ... }"),
    ({"device": ["cpu", "cuda"]}, "where or how a run is launched"),
    ({"metric_for_best": ["f1", "accuracy"]}, "trials must share it"),
])
def test_bad_entries_are_refused_naming_the_setting(entries, words):
    with pytest.raises(SettingsError) as caught:
        space(**entries)
    assert words in str(caught.value)
    assert caught.value.setting in {*entries, "strategy"}


def test_a_file_without_a_space_table_or_with_other_tables_is_refused(tmp_path):
    with pytest.raises(SettingsError, match=r"expected a \[space\] table"):
        parse_space({"learning_rate": [1e-5]})
    with pytest.raises(SettingsError, match="unknown table 'settings'"):
        parse_space({"space": {"epochs": [1, 2]}, "settings": {}})
    with pytest.raises(SettingsError, match="is empty"):
        parse_space({"space": {}})
    with pytest.raises(SettingsError, match="not found"):
        load_space(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[space\nx = 1", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_space(broken)


def test_the_grid_lists_every_point_and_needs_a_step_for_float_ranges():
    grid = space(learning_rate=[1e-4, 1e-3], epochs={"low": 1, "high": 3}, warmup_ratio={"low": 0.0, "high": 0.2,
                                                                                        "step": 0.1})
    assert grid.grid() == {"learning_rate": [1e-4, 1e-3], "epochs": [1, 2, 3], "warmup_ratio": [0.0, 0.1, 0.2]}
    assert len(grid.grid_points()) == 18
    with pytest.raises(SettingsError, match="grid sampler needs the values of 'learning_rate' listed"):
        space(learning_rate={"low": 1e-5, "high": 1e-3, "log": True}).grid()


def test_apply_gives_each_setting_its_type_and_check_with_validates_against_the_fixed_settings():
    searched = space(batch_size={"low": 8, "high": 32}, strategy=["full", "head"])
    settings = searched.apply(TrainSettings(), {"batch_size": 16.0, "strategy": "head"})
    assert settings.batch_size == 16 and isinstance(settings.batch_size, int) and settings.strategy == "head"
    space(strategy=["full", "lora"]).check_with(TrainSettings())
    with pytest.raises(SettingsError, match="warmup_ratio = 0 cannot train with the other settings"):
        space(warmup_ratio=[0.0, 0.5]).check_with(TrainSettings(strategy="bottom-x"))
