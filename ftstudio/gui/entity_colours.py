"""One colour per entity type, the same in every view (the Setup tab's entity chart and sentence
preview, the tester's highlighted answer and its per-type table), so "PER" reads the same
everywhere without the views sharing state.

The colour is a function of the type's name alone: common type names (PER, LOC, ORG, MISC, ...)
get fixed, well-separated colours; any other name picks from the palette by a stable hash of its
text (zlib.crc32, not Python's salted `hash`, so a type keeps its colour between runs). The
palette is of light, saturated tones: dark text on them reads on the light and the dark theme.
"""

from __future__ import annotations

import zlib

PALETTE = (
    "#8ec5ff",  # blue
    "#ffb470",  # orange
    "#8fe3a0",  # green
    "#ff9aa8",  # pink-red
    "#c9a8ff",  # violet
    "#ffe27a",  # yellow
    "#7fe0df",  # teal
    "#f7a8e6",  # magenta
    "#c8d98a",  # olive
    "#d9b99b",  # tan
    "#a8b8ff",  # periwinkle
    "#ffc4a8",  # peach
    "#b5e8ff",  # sky
    "#e0c2ff",  # lilac
    "#9fd8b8",  # sea green
    "#ffd1dc",  # rose
)

# Names datasets commonly use, each on a fixed palette slot: CoNLL's PER/LOC/ORG/MISC and WNUT's
# ten types never share a colour among themselves (OntoNotes' 18 types cannot all be apart in 16).
_KNOWN = {
    "per": 0, "person": 0, "pers": 0,
    "loc": 1, "location": 1, "geo-loc": 1, "gpe": 6,
    "org": 2, "organization": 2, "organisation": 2, "company": 2,
    "misc": 3, "other": 3,
    "product": 4, "facility": 5, "fac": 5, "event": 7, "movie": 7, "tvshow": 8, "norp": 8,
    "musicartist": 9, "money": 9, "sportsteam": 10, "percent": 10, "date": 11, "time": 12,
    "language": 13, "work_of_art": 14, "law": 15,
}


def entity_colour(entity_type: str) -> str:
    """The colour (hex, "#rrggbb") of an entity type: fixed for common names, else chosen from
    the palette by a stable hash of the name."""
    key = entity_type.strip().lower()
    if key in _KNOWN:
        return PALETTE[_KNOWN[key]]
    return PALETTE[zlib.crc32(key.encode("utf-8")) % len(PALETTE)]


def text_colour_on(background: str) -> str:
    """Black or white, whichever reads better on `background` (hex): for custom palettes too."""
    red, green, blue = (int(background[i:i + 2], 16) / 255 for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#111111" if luminance > 0.45 else "#ffffff"
