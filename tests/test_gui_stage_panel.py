"""StagePanel: one knob per table row, EQ bands as columns, show_params without signals, and the
bypass / reset / knob signals."""

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLabel, QWidget

from greymaster_app.gui.stage_panel import StagePanel, bands
from model.params import STAGE_TITLES, STAGES, ChainParams, stage_specs

PANEL_SIGNALS = ("edited", "resetRequested", "bypassToggled", "resetStageRequested")


@pytest.fixture
def make_panel(qtbot):
    def make(stage, picture=None):
        panel = StagePanel(stage, picture)
        qtbot.addWidget(panel)
        panel.resize(panel.sizeHint())
        panel.show()
        return panel
    return make


@pytest.mark.parametrize("stage", STAGES)
def test_one_knob_per_table_row_in_table_order(make_panel, stage):
    panel = make_panel(stage)
    assert [knob.key for knob in panel.knobs()] == [row.key for row in stage_specs(stage)]
    for row in stage_specs(stage):
        assert panel.knob(row.key).spec is row
    assert panel.stage == stage
    labels = {label.text() for label in panel.findChildren(QLabel)}
    assert STAGE_TITLES[stage] in labels


def test_eq_bands_are_columns_under_their_names(make_panel):
    panel = make_panel("eq")
    titles = ["Low shelf", "Peak 1", "Peak 2", "Peak 3", "Peak 4", "High shelf"]
    labels = {label.text(): label for label in panel.findChildren(QLabel)}
    assert set(titles) <= set(labels)
    lefts = []
    for title, (prefix, rows) in zip(titles, bands(stage_specs("eq")), strict=True):
        knobs = [panel.knob(row.key) for row in rows]
        assert [knob.label() for knob in knobs] == ["Freq", "Gain", "Q"]
        centres_x = {knob.geometry().center().x() for knob in knobs}
        assert len(centres_x) == 1, f"band {prefix} is not one column"
        title_geometry = labels[title].geometry()
        assert title_geometry.left() <= centres_x.pop() <= title_geometry.right()
        assert all(knob.geometry().top() > title_geometry.bottom() for knob in knobs)
        lefts.append(knobs[0].geometry().left())
    assert lefts == sorted(lefts)


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "eq"])
def test_other_stages_use_at_most_two_rows(make_panel, stage):
    panel = make_panel(stage)
    rows = {knob.geometry().top() for knob in panel.knobs()}
    assert len(rows) == (1 if len(panel.knobs()) <= 3 else 2)


def test_bands_group_by_frequency_prefix():
    grouped = bands(stage_specs("eq"))
    assert [prefix for prefix, _ in grouped] == ["low_shelf", "peak1", "peak2", "peak3",
                                                   "peak4", "high_shelf"]
    assert sum(len(rows) for _, rows in grouped) == len(stage_specs("eq"))
    assert bands(stage_specs("compressor")) == []


@pytest.mark.parametrize("stage", STAGES)
def test_show_params_shows_everything_and_emits_nothing(qtbot, make_panel, stage):
    panel = make_panel(stage)
    proposal = ChainParams()
    params = proposal
    rows = stage_specs(stage)
    for row in rows:  # move every value to 3/4 of its range, away from the proposal
        params = params.replace(row.key, float(row.from_unit(0.75)))
    params = params.with_enabled(stage, False)
    overridden = {rows[0].key}

    emitted = []
    for name in PANEL_SIGNALS:
        getattr(panel, name).connect(lambda *args, name=name: emitted.append((name, args)))
    for knob in panel.knobs():
        knob.edited.connect(lambda *args: emitted.append(("knob.edited", args)))
    panel.show_params(params, proposal, overridden)

    assert emitted == []
    for row in rows:
        knob = panel.knob(row.key)
        assert knob.value() == pytest.approx(row.from_unit(0.75))
        assert knob.proposal() == row.default
        assert knob.is_overridden() == (row.key in overridden)
        assert knob.is_dimmed()
    assert panel.bypass_button.isChecked()
    assert panel.is_bypassed()

    panel.show_params(proposal, proposal, set())
    assert emitted == []
    assert not panel.bypass_button.isChecked()
    assert not any(knob.is_dimmed() or knob.is_overridden() for knob in panel.knobs())


def test_bypass_click_reports_the_stage_enabled_flag(qtbot, make_panel):
    panel = make_panel("compressor")
    with qtbot.waitSignal(panel.bypassToggled) as blocker:
        qtbot.mouseClick(panel.bypass_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["compressor", False]
    assert all(knob.is_dimmed() for knob in panel.knobs())
    with qtbot.waitSignal(panel.bypassToggled) as blocker:
        qtbot.mouseClick(panel.bypass_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["compressor", True]
    assert not any(knob.is_dimmed() for knob in panel.knobs())


def test_reset_stage_button(qtbot, make_panel):
    panel = make_panel("limiter")
    with qtbot.waitSignal(panel.resetStageRequested) as blocker:
        qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["limiter"]


def test_knob_gestures_are_re_emitted(qtbot, make_panel):
    panel = make_panel("saturation")
    knob = panel.knob("saturation.drive_db")
    knob.set_value(3.0)
    with qtbot.waitSignal(panel.edited) as blocker:
        knob.setFocus()
        qtbot.keyClick(knob, Qt.Key.Key_Up)
    assert blocker.args == ["saturation.drive_db", pytest.approx(3.24), True]
    with qtbot.waitSignal(panel.resetRequested) as blocker:
        qtbot.mouseDClick(knob, Qt.MouseButton.LeftButton,
                          pos=QPoint(knob.width() // 2, knob.height() // 2))
    assert blocker.args == ["saturation.drive_db"]


@pytest.mark.parametrize("stage", ["eq", "compressor"])
def test_picture_is_placed_in_the_panel(make_panel, stage):
    picture = QWidget()
    picture.setMinimumSize(120, 80)
    panel = make_panel(stage, picture)
    assert panel.picture is picture
    assert picture.parent() is panel
    assert picture.isVisible()
    knob_box = panel.knobs()[0].geometry()
    if stage == "eq":
        assert picture.geometry().bottom() < knob_box.top()
    else:
        assert picture.geometry().right() < knob_box.left()
