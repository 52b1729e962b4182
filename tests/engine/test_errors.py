"""user_message: the one place an exception becomes words for the user (window, CLI, child)."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftstudio.engine.errors import (
    DETAIL_LIMIT,
    MESSAGE_LIMIT,
    OUT_OF_MEMORY,
    CheckpointError,
    DatasetError,
    SettingsError,
    first_line,
    one_line,
    user_message,
)


def test_an_ftstudio_error_is_its_own_message_on_one_line():
    assert user_message(DatasetError("No text column in data.csv."), "Cannot read this data") == (
        "No text column in data.csv.")
    quoted = SettingsError("Column 'a\nb' is not in the file.\n  Pick another one.")
    assert user_message(quoted) == "Column 'a b' is not in the file. Pick another one."
    long = DatasetError("x" * (MESSAGE_LIMIT + 50) + " Fix it like this.")
    assert user_message(long).endswith("Fix it like this.")  # ours is never cut


def test_anything_else_says_what_failed_with_its_type_and_first_line():
    assert user_message(ValueError("bad byte"), "Cannot read this data") == "Cannot read this data (ValueError): bad byte"
    assert user_message(RuntimeError("kaboom.\nTraceback line\nmore")) == "Unexpected error (RuntimeError): kaboom"
    assert user_message(RuntimeError("kaboom"), advice="See the log for the traceback.") == (
        "Unexpected error (RuntimeError): kaboom. See the log for the traceback.")
    assert user_message(KeyError()) == "Unexpected error (KeyError): no details"
    assert user_message(DatasetError("")) == "Unexpected error (DatasetError): no details"  # a message we forgot


def test_no_exception_is_the_fallback_alone():
    assert user_message(None, "Cannot read this data") == "Cannot read this data"


def test_out_of_memory_and_a_full_disk_say_what_to_do():
    assert user_message(MemoryError()) == OUT_OF_MEMORY
    assert user_message(MemoryError(), out_of_memory="Lower the batch size.") == "Lower the batch size."
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.safetensors")
    assert user_message(full) == "The disk holding /runs/x/model.safetensors is full. Free some space and try again."
    assert user_message(OSError(errno.ENOSPC, "No space left on device")) == (
        "The disk is full. Free some space and try again.")
    # Any other OSError (reading a file we may not read is no disk problem) is worded as the rest.
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/x.csv")
    assert user_message(denied, "Cannot read this data") == (
        "Cannot read this data (PermissionError): [Errno 13] Permission denied: '/data/x.csv'")


def test_foreign_text_is_capped():
    detail = user_message(ValueError("y" * 5000))
    assert detail == "Unexpected error (ValueError): " + "y" * DETAIL_LIMIT
    assert len(user_message(ValueError("y" * 5000), "z" * 5000)) == MESSAGE_LIMIT


def test_first_line_and_one_line():
    assert first_line(ValueError("  Bad value.\nsecond")) == "Bad value"
    assert first_line(ValueError()) == "ValueError"
    assert len(first_line(ValueError("w" * 1000))) == DETAIL_LIMIT
    assert one_line("a\n\n  b  \r\nc") == "a b c" and one_line("") == ""


@given(text=st.text(), what=st.sampled_from(["Unexpected error", "Cannot read this data", "Training failed at step 3"]))
def test_every_message_is_one_line_and_bounded(text, what):
    """Whatever an exception holds (line breaks of every kind, nothing, pages), one bounded line."""
    for exc in (ValueError(text), OSError(text), DatasetError(text)):
        message = user_message(exc, what)
        assert message and len(message.splitlines()) <= 1
        if not isinstance(exc, DatasetError):
            assert len(message) <= MESSAGE_LIMIT


def test_a_checkpoint_that_fails_to_load_without_words_still_gets_a_message(monkeypatch, tiny_model_dir, small_csv,
                                                                             tmp_path):
    """A library error with no text (a bare KeyError) once broke the message itself (IndexError)."""
    import transformers

    from ftstudio.engine.predict.predictor import Predictor
    from ftstudio.engine.training.train import train
    from tests.engine.training.test_train import tiny_settings

    result = train(tiny_settings(tiny_model_dir, small_csv, epochs=1), tmp_path / "run")
    assert result.status == "finished", result.message

    def no_words(*args, **kwargs):
        raise KeyError()

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_words)
    with pytest.raises(CheckpointError, match=r"^Cannot load checkpoint .*best: KeyError$"):
        Predictor(result.run_dir)
