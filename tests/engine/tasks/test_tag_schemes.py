"""Tag schemes: detection, conversion to BIO with its repairs, strict entity spans and label names,
by hand and against seqeval's own readings of each scheme."""

from __future__ import annotations

import random

import pytest

from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.tag_schemes import (
    bio_label_names,
    detect_scheme,
    entity_spans,
    split_tag,
    to_bio,
)

TYPES = ["PER", "LOC", "misc"]


def _spans(sequences: list[list[str]]) -> list[list[tuple[str, int, int]]]:
    return [entity_spans(tags) for tags in sequences]


# --- detection -------------------------------------------------------------------------------

# CoNLL-2003's original files: entities open with I-; B- only splits two touching same-type ones.
CONLL_IOB1 = [
    ["I-ORG", "O", "I-MISC", "O", "O", "O", "I-MISC", "O", "O"],
    ["I-PER", "I-PER"],
    ["I-LOC", "O", "I-LOC", "B-LOC", "O", "I-PER"],
]


@pytest.mark.parametrize("sequences, scheme", [
    ([["B-PER", "I-PER", "O", "B-LOC"]], "BIO"),
    ([["B_PER", "I_PER", "O"]], "BIO"),
    (CONLL_IOB1, "IOB1"),
    ([["B-PER", "E-PER", "O", "S-LOC"]], "BIOES"),
    ([["S-LOC"]], "BIOES"),
    ([["B-PER", "I-PER", "L-PER", "O", "U-LOC"]], "BIOES"),
    ([["I-PER", "I-PER", "O", "I-LOC"]], "IO"),
    ([["PER", "PER", "O", "LOC"]], "IO"),
    ([["O", "O"], []], "BIO"),
    ([], "BIO"),
    # A B- after O is BIO, even when most entities open with I- (a BIO file with mistakes).
    ([["I-PER", "O", "I-LOC", "O", "B-LOC", "O", "I-ORG"]], "BIO"),
    # B- only after a same-type tag, but as many B- as I- openings: not mostly I-, so BIO.
    ([["I-PER", "B-PER"]], "BIO"),
])
def test_detect_scheme(sequences, scheme):
    assert detect_scheme(sequences) == scheme


def test_split_tag_reads_every_form():
    assert split_tag("O") == ("O", "")
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I_LOC") == ("I", "LOC")
    assert split_tag("U-X") == ("S", "X")
    assert split_tag("L-X") == ("E", "X")
    assert split_tag("PER") == ("I", "PER")
    assert split_tag("B-I-PER") == ("B", "I-PER")


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_unreadable_tags_name_their_row(bad):
    with pytest.raises(DatasetError, match="Row 2 "):
        to_bio([["O"], ["B-PER", bad]], "BIO")
    with pytest.raises(DatasetError, match="Row 2 "):
        detect_scheme([["O"], ["B-PER", bad]])


def test_unknown_scheme_is_refused_in_words():
    with pytest.raises(DatasetError, match="Unknown tag scheme 'XYZ'"):
        to_bio([["O"]], "XYZ")


# --- conversion by hand ----------------------------------------------------------------------

def test_iob1_conll_2003_to_bio():
    converted, repairs = to_bio(CONLL_IOB1, "IOB1")
    assert converted == [
        ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER"],
        ["B-LOC", "O", "B-LOC", "B-LOC", "O", "B-PER"],
    ]
    assert repairs == []  # opening with I- is what IOB1 means, not a mistake


def test_bioes_and_bilou_to_bio():
    bioes = [["B-PER", "I-PER", "E-PER", "O", "S-LOC", "S-LOC", "B-ORG", "E-ORG"]]
    bilou = [["B-PER", "I-PER", "L-PER", "O", "U-LOC", "U-LOC", "B-ORG", "L-ORG"]]
    expected = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG", "I-ORG"]]
    assert to_bio(bioes, "BIOES") == (expected, [])
    assert to_bio(bilou, "BIOES") == (expected, [])
    assert to_bio(bilou, "BILOU") == (expected, [])
    assert _spans(expected) == [[("PER", 0, 3), ("LOC", 4, 5), ("LOC", 5, 6), ("ORG", 6, 8)]]


def test_io_to_bio():
    converted, repairs = to_bio([["I-PER", "I-PER", "O", "LOC", "I-ORG", "PER"]], "IO")
    assert converted == [["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "B-PER"]]
    assert repairs == []


def test_underscores_become_dashes():
    converted, repairs = to_bio([["B_PER", "E_PER", "O", "S_LOC"]], "BIOES")
    assert converted == [["B-PER", "I-PER", "O", "B-LOC"]]
    assert repairs == []
    assert to_bio([["B_PER", "I_PER"]], "bio") == ([["B-PER", "I-PER"]], [])


def test_well_formed_bio_is_unchanged():
    sequences = [["B-PER", "I-PER", "B-PER", "O", "B-LOC"], [], ["O"]]
    assert to_bio(sequences, "BIO") == (sequences, [])
    assert to_bio(sequences, "IOB2") == (sequences, [])


def test_bio_repairs_are_counted_and_worded():
    sequences = [["O"]] * 10
    sequences[2] = ["I-PER", "I-PER"]                 # opens a sentence with I-
    sequences[7] = ["O", "I-LOC", "O", "I-LOC"]       # twice after O
    sequences[8] = ["B-PER", "I-LOC"]                 # a type switch inside an entity
    sequences[9] = ["B-PER", "I-PER", "O", "B-LOC"]   # well formed
    converted, repairs = to_bio(sequences, "BIO")
    assert converted[2] == ["B-PER", "I-PER"]
    assert converted[7] == ["O", "B-LOC", "O", "B-LOC"]
    assert converted[8] == ["B-PER", "B-LOC"]
    assert converted[9] == sequences[9]
    assert repairs == ["4 entities opened with I- instead of B- (rows 3, 8, 9): read as B-"]

    sequences[4] = ["I-ORG"]
    assert to_bio(sequences, "BIO")[1] == [
        "5 entities opened with I- instead of B- (rows 3, 5, 8, ...): read as B-"]
    assert to_bio([["O", "I-X"]], "BIO")[1] == ["1 entity opened with I- instead of B- (row 1): read as B-"]


def test_bioes_repairs():
    converted, repairs = to_bio([["O", "I-PER", "E-PER"], ["B-LOC", "O"], ["E-ORG"]], "BIOES")
    assert converted == [["O", "B-PER", "I-PER"], ["B-LOC", "O"], ["B-ORG"]]
    assert repairs == [
        "2 entities opened with I- or E- instead of B- or S- (rows 1, 3): read as B-",
        "1 entity not closed by E- or S- (row 2): read as ending at the last word tagged with its type",
    ]
    # After E- the entity is closed: a following I- of the same type opens a new one.
    assert to_bio([["B-X", "E-X", "I-X", "E-X"]], "BIOES")[0] == [["B-X", "I-X", "B-X", "I-X"]]


def test_empty_inputs():
    assert to_bio([], "BIO") == ([], [])
    assert to_bio([[]], "IOB1") == ([[]], [])
    assert entity_spans([]) == []
    assert bio_label_names([]) == ["O"]


# --- strict spans and label names ------------------------------------------------------------

def test_entity_spans_strict_iob2():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6)]
    # An I- that continues nothing of its type is no entity in strict mode.
    assert entity_spans(["I-PER", "O", "B-PER", "I-LOC", "I-LOC", "B-ORG"]) == [("PER", 2, 3), ("ORG", 5, 6)]
    assert entity_spans(["B_PER", "I_PER"]) == [("PER", 0, 2)]
    with pytest.raises(DatasetError, match="not BIO"):
        entity_spans(["S-PER"])


def test_bio_label_names():
    assert bio_label_names(["PER", "loc", "ORG", "Misc"]) == [
        "O", "B-loc", "I-loc", "B-Misc", "I-Misc", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert bio_label_names(["O", "S-PER", "I_LOC", "B-PER", "E-PER", "LOC"]) == [
        "O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


# --- against seqeval -------------------------------------------------------------------------

def _random_tags(rng: random.Random, length: int) -> list[str]:
    """Tags from B/I/O over a few types, malformed ones included (I- openings, type switches)."""
    return [rng.choice(["O", "O", "O", f"B-{rng.choice(TYPES)}", f"I-{rng.choice(TYPES)}"])
            for _ in range(length)]


def _random_entities(rng: random.Random, length: int, touching_same_type: bool = True):
    """Non-overlapping entities (type, start, end) covering parts of `length` words."""
    spans, position, previous = [], 0, None
    while position < length:
        if rng.random() < 0.4:
            position += 1
            previous = None
            continue
        entity_type = rng.choice(TYPES)
        if not touching_same_type and entity_type == previous:
            position += 1
            previous = None
            continue
        end = min(length, position + rng.randint(1, 4))
        spans.append((entity_type, position, end))
        previous, position = entity_type, end
    return spans


def _render(spans, length: int, scheme: str, sep: str = "-") -> list[str]:
    """Well-formed tags of `scheme` for these entities."""
    tags = ["O"] * length
    previous_end, previous_type = None, None
    for entity_type, start, end in spans:
        for index in range(start, end):
            tags[index] = f"I{sep}{entity_type}"
        if scheme in ("BIO", "BIOES", "BILOU"):
            tags[start] = f"B{sep}{entity_type}"
        if scheme == "IOB1" and previous_end == start and previous_type == entity_type:
            tags[start] = f"B{sep}{entity_type}"
        if scheme in ("BIOES", "BILOU"):
            single, last = ("S", "E") if scheme == "BIOES" else ("U", "L")
            if end - start == 1:
                tags[start] = f"{single}{sep}{entity_type}"
            else:
                tags[end - 1] = f"{last}{sep}{entity_type}"
        previous_end, previous_type = end, entity_type
    return tags


@pytest.mark.parametrize("scheme", ["BIO", "IOB1", "BIOES", "BILOU", "IO"])
def test_conversion_keeps_well_formed_spans(scheme):
    seqeval_scheme = pytest.importorskip("seqeval.scheme")
    by_name = {"BIO": seqeval_scheme.IOB2, "IOB1": seqeval_scheme.IOB1, "BIOES": seqeval_scheme.IOBES,
               "BILOU": seqeval_scheme.BILOU}
    rng = random.Random(17)
    sequences, expected = [], []
    for _ in range(400):
        length = rng.randint(0, 14)
        # IO cannot tell two touching entities of one type apart, so its samples have none.
        spans = _random_entities(rng, length, touching_same_type=scheme != "IO")
        sequences.append(_render(spans, length, scheme))
        expected.append(spans)
    detected = detect_scheme(sequences)
    assert detected == {"BILOU": "BIOES"}.get(scheme, scheme)
    converted, repairs = to_bio(sequences, detected)
    assert repairs == []
    assert _spans(converted) == expected
    if scheme in by_name:  # seqeval reads the original tags in their own scheme the same way
        entities = seqeval_scheme.Entities(sequences, by_name[scheme]).entities
        assert [[(e.tag, e.start, e.end) for e in row] for row in entities] == expected


def test_underscored_conversion_matches_dashed():
    rng = random.Random(3)
    for scheme in ("BIO", "IOB1", "BIOES", "BILOU"):
        spans = [_random_entities(rng, 10) for _ in range(50)]
        dashed = to_bio([_render(s, 10, scheme) for s in spans], scheme)
        underscored = to_bio([_render(s, 10, scheme, sep="_") for s in spans], scheme)
        assert dashed == underscored


def test_repaired_bio_and_iob1_read_like_conlleval():
    """Repairing I- openings into B- gives the entities conlleval (seqeval's default mode) reads."""
    labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")
    rng = random.Random(5)
    for _ in range(500):
        tags = _random_tags(rng, rng.randint(0, 15))
        conlleval = [(t, start, end + 1) for t, start, end in labeling.get_entities(tags)]
        for scheme in ("BIO", "IOB1"):
            converted, _ = to_bio([tags], scheme)
            assert entity_spans(converted[0]) == conlleval


def test_strict_spans_match_seqeval():
    seqeval_scheme = pytest.importorskip("seqeval.scheme")
    rng = random.Random(11)
    sequences = [_random_tags(rng, rng.randint(0, 15)) for _ in range(1000)]
    entities = seqeval_scheme.Entities(sequences, seqeval_scheme.IOB2).entities
    assert _spans(sequences) == [[(e.tag, e.start, e.end) for e in row] for row in entities]
