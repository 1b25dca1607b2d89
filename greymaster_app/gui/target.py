"""The loudness target: a delivery preset (``model.targeting.TARGET_PRESETS``) or a custom pair."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QWidget

from model.params import spec
from model.targeting import TARGET_PRESETS, TARGET_RANGE_LUFS

CUSTOM = "custom"


class TargetControls(QWidget):
    """Preset combo + LUFS and ceiling spin boxes; editing a number selects "Custom".

    ``targetChosen(lufs, ceiling_dbtp)`` is emitted when the engineer picks a preset or finishes
    editing a number; ``set_target`` shows a target without emitting.
    """

    targetChosen = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preset_combo = QComboBox()
        for preset in TARGET_PRESETS:
            self.preset_combo.addItem(preset.title, preset.key)
        self.preset_combo.addItem("Custom", CUSTOM)
        self.preset_combo.setToolTip("Delivery target: integrated loudness and true-peak ceiling")
        self.lufs_spin = QDoubleSpinBox()
        self.lufs_spin.setRange(*TARGET_RANGE_LUFS)
        self.lufs_spin.setDecimals(1)
        self.lufs_spin.setSingleStep(0.5)
        self.lufs_spin.setSuffix(" LUFS")
        self.lufs_spin.setToolTip("Integrated loudness of the master (EBU R128 / ITU-R BS.1770)")
        ceiling = spec("limiter.ceiling_dbtp")
        self.ceiling_spin = QDoubleSpinBox()
        self.ceiling_spin.setRange(ceiling.minimum, ceiling.maximum)
        self.ceiling_spin.setDecimals(1)
        self.ceiling_spin.setSingleStep(0.1)
        self.ceiling_spin.setSuffix(" dBTP")
        self.ceiling_spin.setToolTip(ceiling.description)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Target"))
        layout.addWidget(self.preset_combo)
        layout.addWidget(self.lufs_spin)
        layout.addWidget(self.ceiling_spin)

        self.preset_combo.activated.connect(self._preset_picked)
        self.lufs_spin.editingFinished.connect(self._numbers_edited)
        self.ceiling_spin.editingFinished.connect(self._numbers_edited)

    def target(self) -> tuple[float, float]:
        """(LUFS, ceiling dBTP) as shown."""
        return self.lufs_spin.value(), self.ceiling_spin.value()

    def set_target(self, lufs: float, ceiling_dbtp: float) -> None:
        """Show a target (the matching preset, else Custom) without emitting."""
        for widget in (self.preset_combo, self.lufs_spin, self.ceiling_spin):
            widget.blockSignals(True)
        self.lufs_spin.setValue(lufs)
        self.ceiling_spin.setValue(ceiling_dbtp)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(_preset_key(lufs,
                                                                                 ceiling_dbtp)))
        for widget in (self.preset_combo, self.lufs_spin, self.ceiling_spin):
            widget.blockSignals(False)

    def _preset_picked(self, index: int) -> None:
        key = self.preset_combo.itemData(index)
        for preset in TARGET_PRESETS:
            if preset.key == key:
                self.set_target(preset.lufs, preset.ceiling_dbtp)
                self.targetChosen.emit(preset.lufs, preset.ceiling_dbtp)

    def _numbers_edited(self) -> None:
        lufs, ceiling = self.target()
        self.set_target(lufs, ceiling)
        self.targetChosen.emit(lufs, ceiling)


def _preset_key(lufs: float, ceiling_dbtp: float) -> str:
    for preset in TARGET_PRESETS:
        if abs(preset.lufs - lufs) < 1e-6 and abs(preset.ceiling_dbtp - ceiling_dbtp) < 1e-6:
            return preset.key
    return CUSTOM
