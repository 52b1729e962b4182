"""Token-classification data as people read it: the first training sentences with each entity
highlighted in its type's colour (`gui/entity_colours.py`, the same as the entity chart and the
tester).

The sentences arrive ready from the data panel's background work (`data_tasks.preview_sentences`:
words and entity spans the engine read from the BIO tags); this module only draws them.
"""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtWidgets import QTextBrowser, QWidget

from ftstudio.gui.entity_colours import entity_colours
from ftstudio.gui.style import muted_color


def entity_chip(entity_type: str, words: str = "") -> str:
    """An entity as rich text: its words (if any) and its type on the type's colour."""
    background, colour = entity_colours(entity_type)
    inner = f"{escape(words)} " if words else ""
    return (f'<span style="background-color:{background}; color:{colour};">&nbsp;{inner}'
            f'<b style="font-size:small;">{escape(entity_type)}</b>&nbsp;</span>')


def sentence_html(words: list[str], entities: list[Any]) -> str:
    """One sentence with its entities ([type, start, end exclusive] over `words`) highlighted."""
    parts: list[str] = []
    at = 0
    for entity_type, start, end in sorted(entities, key=lambda span: span[1]):
        if start < at:  # overlapping spans cannot come from BIO tags; never hide words over one
            continue
        parts += [escape(word) for word in words[at:start]]
        parts.append(entity_chip(entity_type, " ".join(words[start:end])))
        at = end
    parts += [escape(word) for word in words[at:]]
    return " ".join(parts)


def preview_html(sentences: list[dict[str, Any]]) -> str:
    """The sentences, numbered (each highlighted entity names its type: no legend needed)."""
    muted = muted_color()
    lines = []
    for number, sentence in enumerate(sentences, 1):
        lines.append(f'<p style="margin-top:0; margin-bottom:5px;"><span style="color:{muted};">{number}</span>'
                     f'&nbsp;&nbsp;{sentence_html(sentence["words"], sentence["entities"])}</p>')
    return "\n".join(lines)


class EntityPreview(QTextBrowser):
    """The first training sentences with their entities highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("entityPreview")
        self.setOpenLinks(False)
        self._count = 0

    def set_sentences(self, sentences: list[dict[str, Any]]) -> None:
        """`sentences`: {"words": [...], "entities": [[type, start, end], ...]}."""
        self._count = len(sentences)
        self.setHtml(preview_html(sentences))

    def sentence_count(self) -> int:
        return self._count
