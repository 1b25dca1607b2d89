"""Theme: the colour table every widget shares, and what apply_dark_theme does to the app."""

import re

import pytest
from PySide6.QtGui import QColor, QFontInfo, QPalette

from greymaster_app.gui.theme import COLORS, apply_dark_theme, number_font, stylesheet

# The roles and fixed colours agreed for all widgets (common brief).
AGREED = {"accent": "#3fb8af", "override": "#ff9f43", "before": "#8a9bb0", "after": "#3fb8af",
          "warning": "#ff5e57", "meter_ok": "#4cd137", "meter_hot": "#fbc531", "grid": "#2f3640"}
ROLES = {"background", "panel", "panel_alt", "border", "text", "text_dim", *AGREED}


def lightness(name):
    return QColor(name).lightnessF()


def test_colour_table_has_every_role_as_rgb_hex():
    assert set(COLORS) == ROLES
    assert all(re.fullmatch(r"#[0-9a-f]{6}", value) for value in COLORS.values())
    assert {role: COLORS[role] for role in AGREED} == AGREED


def test_colours_make_a_dark_theme_with_readable_text():
    for surface in ("background", "panel", "panel_alt"):
        assert lightness(COLORS[surface]) < 0.25
        assert lightness(COLORS["text"]) - lightness(COLORS[surface]) > 0.6
        assert lightness(COLORS["text_dim"]) - lightness(COLORS[surface]) > 0.25


@pytest.fixture
def restored_app(qapp):
    """The test app, put back as it was afterwards (other tests share it)."""
    style, palette, font, sheet = (qapp.style().name(), qapp.palette(), qapp.font(),
                                   qapp.styleSheet())
    yield qapp
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setFont(font)


def test_apply_dark_theme_sets_palette_stylesheet_and_font(restored_app):
    apply_dark_theme(restored_app)
    palette = restored_app.palette()
    assert palette.color(QPalette.ColorRole.Window).name() == COLORS["background"]
    assert palette.color(QPalette.ColorRole.WindowText).name() == COLORS["text"]
    assert palette.color(QPalette.ColorRole.Highlight).name() == COLORS["accent"]
    assert restored_app.styleSheet() == stylesheet()
    assert restored_app.font().pointSize() == 9


def test_stylesheet_uses_only_table_colours():
    literal = set(re.findall(r"#[0-9a-fA-F]{6}", stylesheet()))
    assert literal <= set(COLORS.values())
    assert f"background: {COLORS['accent']}" in stylesheet()  # checked buttons


def test_number_font_is_fixed_pitch(qapp):
    font = number_font(8)
    assert font.pointSizeF() == 8
    assert QFontInfo(font).fixedPitch()
