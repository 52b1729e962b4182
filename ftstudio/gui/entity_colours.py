"""One colour per entity type, the same wherever the app shows entities (the Setup tab's data
preview, the tester's answers and its file report), in light and dark themes.

A type's colour must not depend on which other types are on screen, or "PER" would be orange in
one view and blue in the next: the common types of CoNLL and OntoNotes get fixed, well separated
colours, and any other type is placed by a stable hash of its name (crc32, not Python's `hash`,
which changes between runs). Backgrounds are pastel with dark text in the light theme and deep
with light text in the dark theme, so the words stay readable on every colour.
"""

from __future__ import annotations

import zlib

# (light background, dark background), from the open-color scale (shade 2 / a deep shade), chosen
# so that neighbours differ in hue and every one takes black (light) or near-white (dark) text.
PALETTE: tuple[tuple[str, str], ...] = (
    ("#a5d8ff", "#1c4f80"),  # blue
    ("#ffd8a8", "#7a4a12"),  # orange
    ("#b2f2bb", "#1f5f2c"),  # green
    ("#eebefa", "#5f2f73"),  # purple
    ("#ffec99", "#6b5a10"),  # yellow
    ("#99e9f2", "#15616b"),  # cyan
    ("#ffc9c9", "#7a2a2a"),  # red
    ("#d0bfff", "#46348a"),  # violet
    ("#d8f5a2", "#4a6312"),  # lime
    ("#fcc2d7", "#7a2850"),  # pink
    ("#c3fae8", "#0f5e4b"),  # teal
    ("#e9d8c4", "#5c4630"),  # brown
)
TEXT_ON_LIGHT, TEXT_ON_DARK = "#111111", "#f1f3f5"

# The usual types, spread over the palette (upper-cased names; aliases share a colour).
_KNOWN = {
    "PER": 0, "PERSON": 0,
    "LOC": 1, "GPE": 1, "LOCATION": 1,
    "ORG": 2, "ORGANIZATION": 2, "ORGANISATION": 2,
    "MISC": 3,
    "DATE": 4, "TIME": 4,
    "NORP": 5,
    "EVENT": 6,
    "PRODUCT": 7,
    "MONEY": 8, "PERCENT": 8, "QUANTITY": 8, "CARDINAL": 8, "ORDINAL": 8,
    "WORK_OF_ART": 9,
    "FAC": 10, "FACILITY": 10,
    "LAW": 11, "LANGUAGE": 11,
    # WNUT-16/17 (tweets): their ten types apart from one another, on slots of the types they resemble.
    "GEO-LOC": 1, "COMPANY": 2, "OTHER": 3, "TVSHOW": 4, "SPORTSTEAM": 5, "MOVIE": 6,
    "MUSICARTIST": 9, "CORPORATION": 2, "CREATIVE-WORK": 9, "GROUP": 5,
}


def colour_index(entity_type: str) -> int:
    """The palette slot of `entity_type`: fixed for the usual types, a stable hash otherwise."""
    name = str(entity_type).strip()
    known = _KNOWN.get(name.upper())
    if known is not None:
        return known
    return zlib.crc32(name.encode("utf-8")) % len(PALETTE)


def _dark(dark: bool | None) -> bool:
    if dark is not None:
        return dark
    from ftstudio.gui.style import is_dark

    return is_dark()


def entity_colour(entity_type: str, dark: bool | None = None) -> str:
    """The background colour (#rrggbb) of `entity_type` ("PER", not "B-PER") in the light or dark
    theme (None: the app's current theme)."""
    light_colour, dark_colour = PALETTE[colour_index(entity_type)]
    return dark_colour if _dark(dark) else light_colour


def entity_text_colour(dark: bool | None = None) -> str:
    """The text colour that reads on every entity background of the theme."""
    return TEXT_ON_DARK if _dark(dark) else TEXT_ON_LIGHT


def entity_colours(entity_type: str, dark: bool | None = None) -> tuple[str, str]:
    """(background, text) colours of `entity_type`, for a span or a table cell."""
    dark = _dark(dark)
    return entity_colour(entity_type, dark), entity_text_colour(dark)
