"""The tester on pre-training runs: the language view replaces the classifier's, masks are filled
before and after pre-training side by side, a selected word is masked, a decoder continues text,
and a base model without a head says so in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.language_models import (
    MASKED_PROMPT,
    MASKED_SENTENCE,
    build_causal_lm,
    build_masked_lm,
    write_pretrain_run,
)

pytest.importorskip("pytestqt")

WAIT_MS = 60_000  # the first load imports torch and transformers


@pytest.fixture(scope="module")
def lm_runs(tmp_path_factory) -> dict[str, Path]:
    """A masked and a causal pre-training run from tiny bases with heads, and a masked one whose
    base model was saved without its head (as the embedded model is)."""
    from transformers import BertModel

    root = tmp_path_factory.mktemp("tester-lm")
    runs = root / "runs"
    mlm_base, clm_base = build_masked_lm(root / "mlm-base"), build_causal_lm(root / "clm-base")
    headless = root / "headless-base"
    shutil.copytree(mlm_base, headless)
    BertModel.from_pretrained(mlm_base).save_pretrained(headless)
    taught = build_masked_lm(root / "mlm", teach=True)
    return {
        "masked": write_pretrain_run(runs, taught, str(mlm_base), "masked", name="20260101-120000-mlm"),
        "causal": write_pretrain_run(runs, build_causal_lm(root / "clm", teach=True), str(clm_base), "causal",
                                     name="20260101-130000-clm", state_base=False),
        "headless": write_pretrain_run(runs, taught, str(headless), "masked", name="20260101-140000-headless"),
        # As the trainer records it: the base had no head, so the tester need not load it to know.
        "recorded": write_pretrain_run(runs, taught, "default", "masked", name="20260101-150000-recorded",
                                       new_head=True),
        "headless-name": headless.name,
    }


@pytest.fixture
def tester(qtbot, lm_runs):
    from ftstudio.gui.tester.panel import TesterPanel

    panel = TesterPanel(lm_runs["masked"].parent)
    qtbot.addWidget(panel)
    yield panel
    assert panel.shutdown()


def _shown_both(qtbot, view, action) -> dict[str, dict]:
    """Run `action` and wait until both columns showed an answer to a text; {slot: payload}."""
    shown: dict[str, dict] = {}

    def keep(info: dict) -> None:
        if info.get("text") is not None or info.get("head_is_new"):
            shown[info["slot"]] = info

    view.sig_shown.connect(keep)
    try:
        action()
        def both() -> None:
            assert {"before", "after"} <= set(shown), (shown, view.before.message(), view.after.message())
            assert all(s.get("text") == view.text.text().strip() or s.get("head_is_new") for s in shown.values())

        qtbot.waitUntil(both, timeout=WAIT_MS)
    finally:
        view.sig_shown.disconnect(keep)
    return shown


def test_pretrain_run_gets_the_language_view(tester, lm_runs):
    tester.set_run(lm_runs["masked"])
    view = tester.language_view
    assert tester.language_mode() and not view.isHidden()
    assert tester.entry.isHidden() and tester.splitter.isHidden() and tester.compare_box.isHidden()
    assert view.before.title.text() == "Before pre-training (mlm-base)"
    assert view.after.title.text() == "After pre-training (This run · best)"
    assert tester.picker.currentText() == "This run · best (step 10, perplexity 2.72)"
    assert "[MASK]" in view.hint.text() and "Mask selected word" in view.hint.text()
    assert not view.mask_button.isHidden()


def test_fill_a_mask_before_and_after(qtbot, tester, lm_runs):
    tester.set_run(lm_runs["masked"])
    view = tester.language_view
    shown = _shown_both(qtbot, view, lambda: (view.text.setText(MASKED_PROMPT), view.text.returnPressed.emit()))
    after, before = view.after.candidates(), view.before.candidates()
    assert len(after) == 1 and after[0][0][0] == "great" and after[0][0][1] > 0.5
    assert len(after[0]) == 10 and before and before[0][0][0] != "great"  # the untaught base guesses otherwise
    assert shown["after"]["masks"][0][0]["sequence"] == MASKED_SENTENCE
    assert MASKED_SENTENCE in view.after.text_view.text()


def test_mask_selected_word_masks_it_and_predicts(qtbot, tester, lm_runs):
    tester.set_run(lm_runs["masked"])
    view = tester.language_view
    view.text.setText(MASKED_SENTENCE)
    view.text.setSelection(MASKED_SENTENCE.index("great"), len("great"))
    _shown_both(qtbot, view, lambda: view.mask_button.click())
    assert view.text.text() == MASKED_PROMPT
    assert view.after.candidates()[0][0][0] == "great"


def test_mask_button_without_a_selection_says_what_to_do(tester, lm_runs):
    tester.set_run(lm_runs["masked"])
    view = tester.language_view
    view.text.setText(MASKED_SENTENCE)
    view.mask_button.click()
    assert view.text.text() == MASKED_SENTENCE
    assert "Select a word" in view.after.message()


def test_text_without_mask_shows_the_engine_message(qtbot, tester, lm_runs):
    tester.set_run(lm_runs["masked"])
    view = tester.language_view
    with qtbot.waitSignal(view.sig_failed, timeout=WAIT_MS, check_params_cb=lambda i: i["slot"] == "after") as got:
        view.try_text("the flight was great")
    assert "type [MASK]" in got.args[0]["message"] and "type [MASK]" in view.after.message()


def test_half_typed_sentence_and_a_decoder_prompt_left_in_the_box_are_no_errors(qtbot, tester, lm_runs):
    tester.set_run(lm_runs["causal"])
    view = tester.language_view
    _shown_both(qtbot, view, lambda: view.try_text("the flight"))
    failed = []
    view.sig_failed.connect(failed.append)
    loaded = lambda info: info["slot"] == "lm-after" and info.get("text") is None  # noqa: E731
    with qtbot.waitSignal(tester.service.sig_result, timeout=WAIT_MS, check_params_cb=loaded):
        tester.set_run(lm_runs["masked"])  # "the flight" stays in the box: the models only load
    assert "Type a sentence with [MASK]" in view.after.message()
    view.text.setText("the flight was")
    view.text.textEdited.emit("the flight was")
    qtbot.waitUntil(lambda: not view._typing.isActive(), timeout=5000)
    assert not failed and "Type a sentence with [MASK]" in view.after.message()


def test_base_model_without_head_says_it_cannot_fill_masks(qtbot, tester, lm_runs):
    tester.set_run(lm_runs["headless"])
    view = tester.language_view
    shown = _shown_both(qtbot, view, lambda: view.try_text(MASKED_PROMPT))
    assert shown["before"]["head_is_new"] and "masks" not in shown["before"]
    assert "has no masked-language-modelling head" in view.before.message()
    assert "cannot fill masks before pre-training" in view.before.message()
    assert lm_runs["headless-name"] in view.before.message()
    assert view.before.candidates() == [] and view.after.candidates()[0][0][0] == "great"


def test_base_recorded_without_head_is_not_even_loaded(qtbot, tester, lm_runs):
    asked = []
    tester.service.language = lambda slot, *args, **kwargs: asked.append(slot)  # instance attribute: a spy
    tester.set_run(lm_runs["recorded"])
    view = tester.language_view
    assert view.before.title.text() == "Before pre-training (all-MiniLM-L6-v2)"
    assert "all-MiniLM-L6-v2 has no masked-language-modelling head" in view.before.message()
    view.try_text(MASKED_PROMPT)
    assert asked and set(asked) == {"lm-after"}
    del tester.service.language


def test_decoder_continues_text_before_and_after(qtbot, tester, lm_runs):
    tester.set_run(lm_runs["causal"])
    view = tester.language_view
    assert view.mask_button.isHidden() and "continues it" in view.hint.text()
    assert view.before.title.text() == "Before pre-training (clm-base)"  # from the run's settings.json
    _shown_both(qtbot, view, lambda: view.try_text("the flight"))
    assert view.after.continuation() == " was great and the crew was lovely"
    assert view.after.next_tokens()[0][0] == "␣was"
    assert view.before.continuation() != view.after.continuation()
    assert len(view.before.next_tokens()) == 10


def test_back_to_a_classifier_restores_the_classifier_view(qtbot, tester, lm_runs, tmp_path, tiny_model_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.gui.tester.helpers import browse_to

    # Built before the tester loads anything: transformers' loading is not safe to run on two
    # threads at once (its meta-device patching can leak into the other thread's model).
    classifier = tmp_path / "classifier"
    AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).save_pretrained(classifier)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(classifier)
    tester.set_run(lm_runs["masked"])
    assert tester.language_mode()
    browse_to(tester.picker, classifier)
    assert not tester.language_mode() and not tester.entry.isHidden() and not tester.splitter.isHidden()
    with qtbot.waitSignal(tester.sig_predicted, timeout=WAIT_MS):
        tester.try_text("great flight")


def test_perplexity_on_a_text_file_before_and_after(qtbot, tester, lm_runs, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("the flight was great and the crew was lovely\n" * 4, encoding="utf-8")
    tester.set_run(lm_runs["causal"])
    row = tester.language_view.file_row
    row.choose_file = lambda: str(texts)
    with qtbot.waitSignal(row.sig_measured, timeout=WAIT_MS) as measured:
        row.button.click()
        assert not row.button.isEnabled()
    result = measured.args[0]
    assert result["file"] == str(texts) and result["after"]["rows"] == 4
    assert result["after"]["perplexity"] < result["before"]["perplexity"]
    line = row.summary.text()
    assert line.startswith("On texts.txt (4 texts") and " before → <b>" in line and row.button.isEnabled()
    bad = tmp_path / "table.csv"
    bad.write_text("text,label\na,b\n", encoding="utf-8")
    with qtbot.waitSignal(row.sig_measured, timeout=WAIT_MS) as measured:
        row.measure(bad)
    assert measured.args[0]["after"] is None and "not plain text" in row.summary.text()


def test_screenshot_of_the_language_view(qtbot, tester, lm_runs, tmp_path):
    tester.set_run(lm_runs["masked"])
    view = tester.language_view
    _shown_both(qtbot, view, lambda: view.try_text("the [MASK] was [MASK] today"))
    tester.resize(1000, 760)
    tester.show()
    qtbot.waitExposed(tester)
    path = tmp_path / "language-view.png"
    assert tester.grab().save(str(path)) and path.stat().st_size > 0


def test_measure_line_says_when_the_before_had_a_random_head():
    from ftstudio.gui.tester.perplexity_row import measure_line

    before = {"rows": 400, "predicted_tokens": 478, "perplexity": 69538.6, "token_accuracy": 0.0}
    after = {**before, "perplexity": 25.243, "token_accuracy": 0.113}
    line = measure_line("corpus.txt", {"before": before, "after": after}, before_head_is_new=True)
    assert line == ("On corpus.txt (400 texts, 478 predicted tokens): perplexity 69,539 before (random head) → "
                    "<b>25.24</b> after · token accuracy 0.0% → <b>11.3%</b>")
    assert "before" not in measure_line("corpus.txt", {"after": after})
