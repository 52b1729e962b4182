"""The look: Fusion style, a light or dark palette, the style sheet, the icon and semantic colours.

Fusion everywhere so the window looks the same on every desktop; the palette follows the system's
colour scheme when Qt can tell it, and can be forced with `FTSTUDIO_THEME=dark|light` (or the
`--dark`/`--light` options of `main()`), which is also how the dark theme is checked in
screenshots. Panels ask `colors()` for error/ok/plot colours instead of hard-coding them, so red
text stays readable on a dark background.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory, QWidget


def _resources_dir() -> Path:
    """The repo's top-level `resources/`, installed as the package `ftstudio.resources`."""
    try:
        from importlib.resources import files

        found = Path(str(files("ftstudio.resources")))
        if (found / "style.qss").is_file():
            return found
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "resources"  # a source checkout


RESOURCES = _resources_dir()

_LIGHT = {
    "error": "#c62828", "ok": "#2e7d32", "hint": "#5f6368", "busy": "#1f5fbf",
    "trainable": "#2e9d4f", "frozen": "#8a8f98", "bar": "#3f7fd6", "line": "#d93b3b",
    "plot_bg": "#ffffff", "plot_fg": "#303336",
}
_DARK = {
    "error": "#ff7b72", "ok": "#7ee787", "hint": "#a0a6ad", "busy": "#79b8ff",
    "trainable": "#56d364", "frozen": "#6e7681", "bar": "#58a6ff", "line": "#ff7b72",
    "plot_bg": "#1e2124", "plot_fg": "#d5d8dc",
}


def wants_dark(theme: str | None = None) -> bool:
    """Dark when asked (argument, then FTSTUDIO_THEME), else when the system says so."""
    choice = (theme or os.environ.get("FTSTUDIO_THEME", "")).strip().lower()
    if choice in ("dark", "light"):
        return choice == "dark"
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        return scheme() == Qt.ColorScheme.Dark
    return False


def dark_palette() -> QPalette:
    """A neutral dark palette with enough contrast for disabled text and table grids."""
    p = QPalette()
    window, base, alt, text = QColor("#26292d"), QColor("#1e2124"), QColor("#2b2f33"), QColor("#e3e5e8")
    button, highlight = QColor("#33373c"), QColor("#3d7be0")
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, alt)
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, button)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, QColor("#33373c"))
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.Highlight, highlight)
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
        p.setColor(group, QPalette.ColorRole.Link, QColor("#79b8ff"))
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor("#8b9097"))
        p.setColor(group, QPalette.ColorRole.BrightText, QColor("#ff7b72"))
        p.setColor(group, QPalette.ColorRole.Light, QColor("#4a4f55"))
        p.setColor(group, QPalette.ColorRole.Midlight, QColor("#3a3e43"))
        p.setColor(group, QPalette.ColorRole.Mid, QColor("#50555c"))
        p.setColor(group, QPalette.ColorRole.Dark, QColor("#141618"))
        p.setColor(group, QPalette.ColorRole.Shadow, QColor("#0b0c0d"))
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(disabled, role, QColor("#7d838a"))
    p.setColor(disabled, QPalette.ColorRole.Window, window)
    p.setColor(disabled, QPalette.ColorRole.Base, QColor("#232629"))
    p.setColor(disabled, QPalette.ColorRole.Button, QColor("#2c3034"))
    p.setColor(disabled, QPalette.ColorRole.Highlight, QColor("#4a4f55"))
    return p


def apply_theme(app: QApplication, theme: str | None = None) -> bool:
    """Style the whole application; returns True when the dark theme was chosen."""
    dark = wants_dark(theme)
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    app.setPalette(dark_palette() if dark else fusion.standardPalette() if fusion else app.palette())
    app.setProperty("ftstudio_dark", dark)
    app.setStyleSheet(style_sheet(dark))
    return dark


def style_sheet(dark: bool) -> str:
    try:
        text = (RESOURCES / "style.qss").read_text(encoding="utf-8")
    except OSError:
        return ""  # a missing sheet costs looks, never the app
    for name, value in (_DARK if dark else _LIGHT).items():
        text = text.replace(f"@{name}@", value)
    return text


def is_dark() -> bool:
    app = QApplication.instance()
    if app is not None and app.property("ftstudio_dark") is not None:
        return bool(app.property("ftstudio_dark"))
    if app is not None:  # not themed by us (a panel tested alone): judge by the window colour
        return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return False


def colors() -> dict[str, str]:
    """Semantic colours for the current theme (error, ok, hint, trainable, frozen, plot_*...)."""
    return dict(_DARK if is_dark() else _LIGHT)


def blend(a: QColor, b: QColor, t: float) -> QColor:
    """`a` moved towards `b` by `t` (0..1), opaque: used to derive tints from the palette."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def error_color() -> str:
    """The theme's error red (readable on its background); see colors()."""
    return colors()["error"]


def muted_color() -> str:
    """The theme's colour for hints and secondary text."""
    return colors()["hint"]


def control_icon(kind: str) -> QIcon:
    """Start / pause / resume / stop drawn in colour, legible on light and dark toolbars alike
    (the style's standard media icons are black and vanish on a dark background)."""
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QPainter, QPixmap, QPolygonF

    fill = {"start": "#2e9d4f", "pause": "#c98a12", "resume": "#2e9d4f", "stop": "#d93b3b"}[kind]
    icon = QIcon()
    for size in (16, 24, 32):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(fill))
        u = size / 16.0
        if kind in ("start", "resume"):
            left = 3 if kind == "start" else 6
            painter.drawPolygon(QPolygonF([QPointF(left * u, 2 * u), QPointF(14 * u, 8 * u), QPointF(left * u, 14 * u)]))
            if kind == "resume":
                painter.drawRect(QRectF(2 * u, 2 * u, 2.5 * u, 12 * u))
        elif kind == "pause":
            painter.drawRoundedRect(QRectF(3 * u, 2 * u, 3.5 * u, 12 * u), u, u)
            painter.drawRoundedRect(QRectF(9.5 * u, 2 * u, 3.5 * u, 12 * u), u, u)
        else:
            painter.drawRoundedRect(QRectF(2.5 * u, 2.5 * u, 11 * u, 11 * u), 1.5 * u, 1.5 * u)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def app_icon() -> QIcon:
    path = RESOURCES / "icon.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def set_role(label: QWidget, role: str) -> None:
    """Give a label a semantic role (error, ok, hint, busy, heading) and re-polish it."""
    if label.property("role") == role:
        return
    label.setProperty("role", role)
    label.style().unpolish(label)
    label.style().polish(label)


def set_invalid(widget: QWidget, invalid: bool) -> None:
    """Outline a field the validation refused (style sheet rule `*[invalid="true"]`)."""
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
