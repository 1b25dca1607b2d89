"""The app's dark look: one colour table and one function that styles a QApplication.

Widgets take their colours from ``COLORS`` (never a literal colour of their own), so the whole
app changes together. The meaning of the colours:

- ``accent``: what the model proposed; ``after``: the mastered signal (the same teal).
- ``override``: a value the engineer changed away from the proposal.
- ``before``: the original, unprocessed signal.
- ``warning``: clipping, errors, bypass; ``meter_ok`` / ``meter_hot``: meter zones.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication

COLORS: dict[str, str] = {
    "background": "#1b1e23",
    "panel": "#23272e",
    "panel_alt": "#2a2f37",
    "border": "#363c46",
    "text": "#d7dde5",
    "text_dim": "#7f8896",
    "accent": "#3fb8af",
    "override": "#ff9f43",
    "before": "#8a9bb0",
    "after": "#3fb8af",
    "warning": "#ff5e57",
    "meter_ok": "#4cd137",
    "meter_hot": "#fbc531",
    "grid": "#2f3640",
}
"""Colour of each role, as ``#rrggbb``."""

FONT_POINT_SIZE = 9
"""The app's base font size (points)."""


def number_font(point_size: float = FONT_POINT_SIZE) -> QFont:
    """A fixed-pitch font for numbers (values, readouts), so digits don't jitter as they change.

    Args:
        point_size: size in points.
    """
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSizeF(point_size)
    return font


def _palette() -> QPalette:
    c = {role: QColor(value) for role, value in COLORS.items()}
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c["background"],
        QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["background"],
        QPalette.ColorRole.AlternateBase: c["panel"],
        QPalette.ColorRole.ToolTipBase: c["panel_alt"],
        QPalette.ColorRole.ToolTipText: c["text"],
        QPalette.ColorRole.PlaceholderText: c["text_dim"],
        QPalette.ColorRole.Text: c["text"],
        QPalette.ColorRole.Button: c["panel_alt"],
        QPalette.ColorRole.ButtonText: c["text"],
        QPalette.ColorRole.BrightText: c["warning"],
        QPalette.ColorRole.Highlight: c["accent"],
        QPalette.ColorRole.HighlightedText: c["background"],
        QPalette.ColorRole.Link: c["accent"],
        QPalette.ColorRole.Light: c["border"],
        QPalette.ColorRole.Midlight: c["border"],
        QPalette.ColorRole.Mid: c["grid"],
        QPalette.ColorRole.Dark: c["background"],
        QPalette.ColorRole.Shadow: QColor("#000000"),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, c["text_dim"])
    return palette


def stylesheet() -> str:
    """The app-wide Qt stylesheet: flat controls, 1 px borders, small radius."""
    c = COLORS
    return f"""
QWidget {{ color: {c['text']}; }}
QToolTip {{
    background: {c['panel_alt']}; color: {c['text']}; border: 1px solid {c['border']};
    padding: 4px;
}}
QPushButton, QToolButton {{
    background: {c['panel_alt']}; border: 1px solid {c['border']}; border-radius: 3px;
    padding: 3px 10px;
}}
QToolButton {{ padding: 3px 6px; }}
QPushButton:hover, QToolButton:hover {{ border-color: {c['text_dim']}; }}
QPushButton:pressed, QToolButton:pressed {{ background: {c['grid']}; }}
QPushButton:checked, QToolButton:checked {{
    background: {c['accent']}; color: {c['background']}; border-color: {c['accent']};
}}
QPushButton:disabled, QToolButton:disabled {{ color: {c['text_dim']}; border-color: {c['grid']}; }}
QPushButton:default {{ border-color: {c['accent']}; }}
QComboBox, QLineEdit {{
    background: {c['background']}; border: 1px solid {c['border']}; border-radius: 3px;
    padding: 2px 6px; selection-background-color: {c['accent']};
    selection-color: {c['background']};
}}
QComboBox:hover, QLineEdit:hover {{
    border-color: {c['text_dim']};
}}
QComboBox:focus, QLineEdit:focus {{
    border-color: {c['accent']};
}}
QComboBox QAbstractItemView {{
    background: {c['panel_alt']}; border: 1px solid {c['border']};
    selection-background-color: {c['accent']}; selection-color: {c['background']};
}}
QGroupBox {{
    background: {c['panel']}; border: 1px solid {c['border']}; border-radius: 4px;
    margin-top: 14px; padding-top: 4px;
}}
QGroupBox::title {{
    subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {c['text_dim']};
}}
QTabWidget::pane {{ border: 1px solid {c['border']}; background: {c['panel']}; top: -1px; }}
QTabBar::tab {{
    background: {c['background']}; color: {c['text_dim']}; border: 1px solid {c['border']};
    border-bottom: none; padding: 4px 12px; margin-right: 1px;
    border-top-left-radius: 3px; border-top-right-radius: 3px;
}}
QTabBar::tab:selected {{ background: {c['panel']}; color: {c['text']}; }}
QTabBar::tab:hover {{ color: {c['text']}; }}
QToolBar {{
    background: {c['panel']}; border: none; border-bottom: 1px solid {c['border']};
    spacing: 4px; padding: 2px;
}}
QToolBar::separator {{ background: {c['border']}; width: 1px; margin: 4px 3px; }}
QMenuBar {{ background: {c['panel']}; border-bottom: 1px solid {c['border']}; }}
QMenuBar::item:selected, QMenu::item:selected {{
    background: {c['accent']}; color: {c['background']};
}}
QMenu {{ background: {c['panel_alt']}; border: 1px solid {c['border']}; }}
QStatusBar {{
    background: {c['panel']}; color: {c['text_dim']}; border-top: 1px solid {c['border']};
}}
QProgressBar {{
    background: {c['background']}; border: 1px solid {c['border']}; border-radius: 3px;
    text-align: center; height: 14px;
}}
QProgressBar::chunk {{ background: {c['accent']}; border-radius: 2px; }}
QSlider::groove:horizontal {{ height: 4px; background: {c['grid']}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {c['accent']}; border-radius: 2px; }}
QSlider::handle:horizontal {{
    width: 10px; margin: -5px 0; background: {c['text']}; border-radius: 5px;
}}
QSlider::groove:vertical {{ width: 4px; background: {c['grid']}; border-radius: 2px; }}
QSlider::add-page:vertical {{ background: {c['accent']}; border-radius: 2px; }}
QSlider::handle:vertical {{
    height: 10px; margin: 0 -5px; background: {c['text']}; border-radius: 5px;
}}
QScrollBar:vertical, QScrollBar:horizontal {{ background: {c['background']}; border: none; }}
QScrollBar:vertical {{ width: 10px; }}
QScrollBar:horizontal {{ height: 10px; }}
QScrollBar::handle {{ background: {c['border']}; border-radius: 4px; min-height: 20px;
    min-width: 20px; margin: 2px; }}
QScrollBar::handle:hover {{ background: {c['text_dim']}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
QSplitter::handle {{ background: {c['border']}; }}
QHeaderView::section {{
    background: {c['panel']}; color: {c['text_dim']}; border: none;
    border-right: 1px solid {c['border']}; border-bottom: 1px solid {c['border']};
    padding: 3px 6px;
}}
QTableView, QTreeView, QListView {{
    background: {c['background']}; alternate-background-color: {c['panel']};
    border: 1px solid {c['border']}; gridline-color: {c['grid']};
}}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Style the whole application: Fusion style, the dark palette, the stylesheet, a small font.

    Args:
        app: the running QApplication.
    """
    app.setStyle("Fusion")
    app.setPalette(_palette())
    font = app.font()
    font.setPointSize(FONT_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(stylesheet())
