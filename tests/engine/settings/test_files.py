"""Settings files: JSON and TOML keep the same things, `extra` and None included."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings import TrainSettings, setting_specs
from tests.engine.settings.extremes import extreme_settings

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

EXTRA = {"view": {"zoom": None, "tabs": [1, 2.5, "three", None, True]}, "note": 'a "quoted"\nline',
         "empty": {}, "nothing": None, "ünïcode": "✓"}


def every_field_changed() -> TrainSettings:
    """Settings where no field has its default value."""
    values: dict[str, Any] = {}
    for spec in setting_specs():
        if spec.is_number:
            values[spec.name] = spec.highest if spec.highest != spec.default else spec.lowest
        elif spec.choices:
            values[spec.name] = spec.choices[-1] if spec.choices[-1] != spec.default else spec.choices[0]
        elif spec.value_type is bool:
            values[spec.name] = not spec.default
    changed = TrainSettings(**values).replace(
        model="org/some-model", data="reviews.csv", text_column="body", label_column="stars", strategy="bottom-3",
        text_pair_column="answer", lora_targets="query,value", label_separator=";", tag_names="O,B-PER,I-PER",
        learning_rate=3.25e-5, extra=EXTRA)
    defaults = TrainSettings()
    assert [n for n in changed.to_dict() if getattr(changed, n) == getattr(defaults, n)] == []
    return changed


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_every_field_round_trips(tmp_path, suffix):
    original = every_field_changed()
    path = tmp_path / f"settings{suffix}"
    original.save(path)
    assert TrainSettings.load(path) == original


@pytest.mark.parametrize("suffix", [".json", ".toml"])
@pytest.mark.parametrize("end", ["min", "max"])
def test_extremes_and_defaults_round_trip(tmp_path, suffix, end):
    for original in (extreme_settings(end), TrainSettings()):
        path = tmp_path / f"settings{suffix}"
        original.save(path)
        assert TrainSettings.load(path) == original


def test_toml_leaves_out_none_and_writes_extra_as_json_text(tmp_path):
    path = tmp_path / "settings.toml"
    TrainSettings(text_column=None, extra={"zoom": None}).save(path)
    text = path.read_text(encoding="utf-8")
    table = tomllib.loads(text)
    assert "text_column" not in table and "label_column" not in table  # None: left out, default None
    assert json.loads(table["extra"]) == {"zoom": None}
    assert table["seed"] == 42 and table["learning_rate"] == 5e-5
    TrainSettings().save(path)
    assert "extra" not in tomllib.loads(path.read_text(encoding="utf-8"))  # empty: left out


def test_a_hand_written_extra_table_and_a_run_folders_shape_are_read(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('epochs = 2\n[extra]\nview = "plots"\n', encoding="utf-8")
    assert TrainSettings.load(path) == TrainSettings(epochs=2, extra={"view": "plots"})
    path.write_text('[settings]\nepochs = 4\nextra = \'{"a": null}\'\n', encoding="utf-8")
    assert TrainSettings.load(path) == TrainSettings(epochs=4, extra={"a": None})
    run_file = tmp_path / "settings.json"
    run_file.write_text(json.dumps({"settings": {"epochs": 5}, "versions": {}}), encoding="utf-8")
    assert TrainSettings.load(run_file) == TrainSettings(epochs=5)


def test_a_broken_extra_is_one_clear_error(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("extra = '{not json'\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="extra must be JSON text or a table") as caught:
        TrainSettings.load(path)
    assert caught.value.setting == "extra"
    path.write_text("extra = '[1, 2]'\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="'extra' must be a table"):
        TrainSettings.load(path)


def test_a_none_toml_cannot_hold_is_refused_rather_than_changed(tmp_path):
    with pytest.raises(SettingsError, match="epochs: None cannot be saved as TOML"):
        TrainSettings(epochs=None).save(tmp_path / "settings.toml")  # type: ignore[arg-type]
    assert not (tmp_path / "settings.toml").exists()


_json_scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text()
_json_values = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
FUZZ = settings(max_examples=int(os.environ.get("FTSTUDIO_HYPOTHESIS_EXAMPLES", 60)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(extra=st.dictionaries(st.text(max_size=8), _json_values, max_size=4))
def test_any_json_extra_round_trips_through_toml_as_through_json(tmp_path_factory, extra):
    folder: Path = tmp_path_factory.getbasetemp()
    original = TrainSettings(extra=extra)
    for suffix in (".json", ".toml"):
        path = folder / f"extra{suffix}"
        original.save(path)
        assert TrainSettings.load(path) == original, suffix


def test_the_strategy_old_name_still_loads_and_is_not_given_twice(tmp_path):
    """Run folders and settings files from before LoRA call the strategy `freeze`."""
    old = tmp_path / "old.json"
    old.write_text('{"freeze": "bottom-2", "epochs": 2}', encoding="utf-8")
    assert TrainSettings.load(old).strategy == "bottom-2"
    with pytest.raises(SettingsError, match=r"give 'strategy' only \('freeze' is its old name\)"):
        TrainSettings.from_dict({"freeze": "head", "strategy": "lora"})
