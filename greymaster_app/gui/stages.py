"""The chain's stages as tabs: each a ``StagePanel`` (knobs, bypass, reset) with its picture.

The pictures: EQ curve with band handles, compressor transfer curve with the operating point and
a gain-reduction meter, saturation curve, vectorscope with correlation and width, the limiter's
gain-reduction meter and history; the neural residual has a short explanation instead. A stage
added to the table later gets knobs only.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTabWidget, QWidget

from greymaster_app.gui.pictures import (
    CompressorCurve,
    EqCurve,
    GainReductionMeter,
    SaturationCurve,
    StereoScope,
)
from greymaster_app.gui.stage_panel import StagePanel
from greymaster_app.gui.theme import COLORS
from greymaster_app.playback.player import PlaybackMeters
from model.params import STAGE_TITLES, STAGES, ChainParams

RESIDUAL_TEXT = (
    "A small neural network, conditioned on what the model heard in this track, adds what the "
    "grey-box stages cannot: y = x + amount · net(x, z). It runs before the limiter, so the "
    "ceiling holds. Amount 0 is the pure grey-box chain; the model proposes how much to use.")


def _explanation(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setMaximumWidth(420)
    label.setStyleSheet(f"color: {COLORS['text_dim']}; padding: 12px")
    return label


class StageView(QTabWidget):
    """One tab per stage, in signal order; signals re-emitted from every panel and the EQ curve."""

    edited = Signal(str, float, bool)
    resetRequested = Signal(str)
    bypassToggled = Signal(str, bool)
    resetStageRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.eq_curve = EqCurve()
        self.compressor_curve = CompressorCurve()
        self.compressor_meter = GainReductionMeter("Gain reduction")
        self.saturation_curve = SaturationCurve()
        self.scope = StereoScope()
        self.limiter_meter = GainReductionMeter("Gain reduction")
        compressor_picture = QWidget()
        row = QHBoxLayout(compressor_picture)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.compressor_curve, 3)
        row.addWidget(self.compressor_meter, 2)
        pictures = {"eq": self.eq_curve, "compressor": compressor_picture,
                    "saturation": self.saturation_curve, "stereo": self.scope,
                    "limiter": self.limiter_meter}
        if "residual" in STAGES:
            pictures["residual"] = _explanation(RESIDUAL_TEXT)
        self._panels: dict[str, StagePanel] = {}
        self._shown: dict[str, tuple] = {}
        for stage in STAGES:
            panel = StagePanel(stage, pictures.get(stage))
            panel.title_label.hide()  # the tab says it
            panel.edited.connect(self.edited)
            panel.resetRequested.connect(self.resetRequested)
            panel.bypassToggled.connect(self.bypassToggled)
            panel.resetStageRequested.connect(self.resetStageRequested)
            self._panels[stage] = panel
            self.addTab(panel, STAGE_TITLES[stage])
        self.eq_curve.edited.connect(self.edited)

    def panel(self, stage: str) -> StagePanel:
        return self._panels[stage]

    def show_params(self, params: ChainParams, proposal: ChainParams, overridden: set[str],
                    sample_rate_hz: float) -> None:
        """Show values, proposal marks, overrides and bypass on every panel and picture; a
        stage whose values, proposal and overrides are as last shown is left alone."""
        for stage, panel in self._panels.items():
            stage_overridden = {key for key in overridden if key.startswith(f"{stage}.")}
            shown = (params.stage(stage), params.enabled[stage], proposal.stage(stage),
                     stage_overridden, sample_rate_hz)
            if self._shown.get(stage) == shown:
                continue
            self._shown[stage] = shown
            panel.show_params(params, proposal, overridden)
            title = STAGE_TITLES[stage] + (f" • {len(stage_overridden)}"
                                           if stage_overridden else "")
            if not params.enabled[stage]:
                title += " (off)"
            if self.tabText(self.indexOf(panel)) != title:
                self.setTabText(self.indexOf(panel), title)
            if stage == "eq":
                self.eq_curve.show_params(params.stage("eq"), sample_rate_hz)
            elif stage == "compressor":
                self.compressor_curve.show_params(params.stage("compressor"))
            elif stage == "saturation":
                self.saturation_curve.show_params(params.stage("saturation"))

    def show_meters(self, meters: PlaybackMeters) -> None:
        """Feed the live meters of the visible stage (hidden pictures are not painted)."""
        stage = STAGES[self.currentIndex()]
        if stage == "compressor":
            self.compressor_curve.show_operating_point(meters.compressor_gain_reduction_db)
            self.compressor_meter.push(meters.compressor_gain_reduction_db, time.monotonic())
        elif stage == "limiter":
            self.limiter_meter.push(meters.limiter_gain_reduction_db, time.monotonic())
        elif stage == "stereo":
            self.scope.push_samples(meters.master_block)
            self.scope.show_reading(meters.output.correlation, meters.output.width)
