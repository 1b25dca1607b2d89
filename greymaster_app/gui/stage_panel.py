"""One stage of the chain as a plug-in style panel: title, bypass, reset, a picture and knobs.

The knobs come from the parameter table (one per row of the stage). Bands are found from the
table too: every ``<band>_freq_hz`` parameter makes ``<band>_*`` one band, shown as a column of
knobs under the band's name (the EQ). Parameters outside any band are laid out in one row (up to
three) or two rows.

The panel shows what it is given (``show_params``) and reports the engineer's actions through
signals; it never changes parameters itself.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from greymaster_app.gui.knob import Knob, display_name
from greymaster_app.gui.theme import COLORS
from model.params import STAGE_TITLES, ChainParams, ParamSpec, stage_specs

_FREQ_SUFFIX = "_freq_hz"


def bands(specs: tuple[ParamSpec, ...]) -> list[tuple[str, list[ParamSpec]]]:
    """Group a stage's parameters into bands: each ``<band>_freq_hz`` row starts a band holding
    every ``<band>_*`` row, in table order.

    Args:
        specs: the stage's table rows.

    Returns:
        ``[(band prefix, rows), ...]`` in table order; empty if the stage has no bands.
    """
    prefixes = [s.name.removesuffix(_FREQ_SUFFIX) for s in specs if s.name.endswith(_FREQ_SUFFIX)]
    return [(prefix, [s for s in specs if s.name.startswith(prefix + "_")]) for prefix in prefixes]


def band_title(rows: list[ParamSpec], prefix: str) -> str:
    """A band's readable name: the part of its descriptions before ":" ("Low shelf: …"), else
    the prefix with spaces ("low_shelf" → "Low shelf")."""
    head, colon, _ = rows[0].description.partition(":")
    if colon:
        return head.strip()
    text = prefix.replace("_", " ")
    return text[:1].upper() + text[1:]


def _same_width(knobs: list[Knob]) -> None:
    """Give knobs that share a column one width (the widest one's), so they line up."""
    width_px = max(knob.sizeHint().width() for knob in knobs)
    for knob in knobs:
        knob.setFixedWidth(width_px)


class StagePanel(QFrame):
    """The knobs, bypass and reset of one stage, with an optional picture (curve or meter).

    Args:
        stage: a name from ``model.params.STAGES``.
        picture: a widget drawn above the knobs (stages with bands) or to their left; None for
            none.
        parent: the parent widget.

    Signals:
        edited(key, value, final): re-emitted from the knobs.
        resetRequested(key): a knob was double-clicked (back to the model's proposal).
        bypassToggled(stage, enabled): the Bypass button was clicked; ``enabled`` is False when
            the stage is now bypassed.
        resetStageRequested(stage): the Reset button was clicked (whole stage back to the
            model's proposal).
    """

    edited = Signal(str, float, bool)
    resetRequested = Signal(str)
    bypassToggled = Signal(str, bool)
    resetStageRequested = Signal(str)

    def __init__(self, stage: str, picture: QWidget | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        specs = stage_specs(stage)
        self.stage = stage
        self.picture = picture
        self.setObjectName("StagePanel")
        self.setStyleSheet(
            f"QFrame#StagePanel {{ background: {COLORS['panel']}; "
            f"border: 1px solid {COLORS['border']}; border-radius: 4px; }}")

        self.title_label = QLabel(STAGE_TITLES[stage])
        title_font = self.title_label.font()
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() + 1)
        self.title_label.setFont(title_font)

        self.bypass_button = QToolButton()
        self.bypass_button.setText("Bypass")
        self.bypass_button.setCheckable(True)
        self.bypass_button.setToolTip("Bypass this stage (the knobs keep their values)")
        self.bypass_button.setStyleSheet(
            f"QToolButton {{ padding: 1px 8px; }}"
            f"QToolButton:checked {{ background: rgba(255, 94, 87, 60); "
            f"color: {COLORS['warning']}; border-color: {COLORS['warning']}; }}")
        self.bypass_button.toggled.connect(self._show_bypassed)
        self.bypass_button.clicked.connect(
            lambda checked: self.bypassToggled.emit(self.stage, not checked))

        self.reset_button = QToolButton()
        self.reset_button.setText("Reset stage")
        self.reset_button.setToolTip("Put every knob of this stage back to the model's proposal")
        self.reset_button.setStyleSheet("QToolButton { padding: 1px 8px; }")
        self.reset_button.clicked.connect(lambda: self.resetStageRequested.emit(self.stage))

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(4)
        header.addWidget(self.title_label)
        header.addStretch(1)
        header.addWidget(self.bypass_button)
        header.addWidget(self.reset_button)

        self._knobs: dict[str, Knob] = {}
        stage_bands = bands(specs)
        knob_grid = self._band_grid(stage_bands) if stage_bands else self._rows_grid(specs)
        body = QVBoxLayout() if stage_bands else QHBoxLayout()
        body.setSpacing(8)
        if picture is not None:
            body.addWidget(picture, 1)
        body.addLayout(knob_grid)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addLayout(body, 1)

    def _add_knob(self, spec: ParamSpec, label: str) -> Knob:
        knob = Knob(spec, label=label)
        knob.edited.connect(self.edited)
        knob.resetRequested.connect(self.resetRequested)
        self._knobs[spec.key] = knob
        return knob

    def _band_grid(self, stage_bands: list[tuple[str, list[ParamSpec]]]) -> QGridLayout:
        """One column per band: the band's name on top, its knobs below."""
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(0)
        for column, (prefix, rows) in enumerate(stage_bands):
            title = QLabel(band_title(rows, prefix))
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            title.setStyleSheet(
                f"color: {COLORS['text']}; background: {COLORS['panel_alt']}; "
                "border-radius: 2px; padding: 1px 4px;")
            grid.addWidget(title, 0, column)
            knobs = [self._add_knob(spec, display_name(spec, strip_prefix=prefix + "_"))
                     for spec in rows]
            _same_width(knobs)
            for row, knob in enumerate(knobs, start=1):
                grid.addWidget(knob, row, column, Qt.AlignmentFlag.AlignHCenter)
        return grid

    def _rows_grid(self, specs: tuple[ParamSpec, ...]) -> QGridLayout:
        """Up to three knobs in one row, more in two rows."""
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        columns = len(specs) if len(specs) <= 3 else math.ceil(len(specs) / 2)
        knobs = [self._add_knob(spec, display_name(spec)) for spec in specs]
        for column in range(columns):
            _same_width(knobs[column::columns])
        for index, knob in enumerate(knobs):
            grid.addWidget(knob, index // columns, index % columns,
                           Qt.AlignmentFlag.AlignHCenter)
        grid.setRowStretch(grid.rowCount(), 1)
        return grid

    def knob(self, key: str) -> Knob:
        """The knob of parameter ``stage.name``; KeyError if it is not in this stage."""
        return self._knobs[key]

    def knobs(self) -> list[Knob]:
        """Every knob, in table order."""
        return list(self._knobs.values())

    def is_bypassed(self) -> bool:
        """Whether the panel shows its stage as bypassed."""
        return self.bypass_button.isChecked()

    def show_params(self, params: ChainParams, proposal: ChainParams,
                    overridden: set[str]) -> None:
        """Show values, proposal marks, overridden looks and the bypass state; emits nothing.

        Args:
            params: the chain's current parameters (values and enabled flags).
            proposal: the model's proposal (marked on each knob's arc).
            overridden: the ``stage.name`` keys the engineer changed.
        """
        self.blockSignals(True)
        try:
            for knob in self._knobs.values():
                name = knob.spec.name
                knob.set_value(params.values[self.stage][name])
                knob.set_proposal(proposal.values[self.stage][name])
                knob.set_overridden(knob.key in overridden)
            self.bypass_button.setChecked(not params.enabled[self.stage])
        finally:
            self.blockSignals(False)

    def _show_bypassed(self, bypassed: bool) -> None:
        colour = COLORS["text_dim"] if bypassed else COLORS["text"]
        self.title_label.setStyleSheet(f"color: {colour};")
        for knob in self._knobs.values():
            knob.set_dimmed(bypassed)
