"""Heatmaps in the viewer: where each word of a text is seen in the photo.

`compute_overlays` runs in a worker: it decodes the photo, runs the model once (engine.heatmaps)
and colours every map (each word and the whole text) as a QImage, so switching words or moving
the opacity slider on the UI thread only repaints. `HeatmapBar` is the row of controls under the
photo: the toggle, the text, one chip per word plus one for the whole text, opacity, and the value
under the pointer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QToolButton,
    QWidget,
)

if TYPE_CHECKING:
    from engine.heatmaps import Heatmap
    from engine.library import Library

log = logging.getLogger(__name__)

WHOLE_TEXT = ""  # the chip key of the whole text's map
OVERLAY_SIZE = 1024  # longest side of the coloured maps: smooth at any window size, cheap to blend
CACHE_SIZE = 16


@dataclass(frozen=True)
class HeatmapResult:
    """A photo's heatmap for one text, with every map already coloured (key WHOLE_TEXT = text)."""

    path: str
    text: str
    heatmap: Heatmap = field(repr=False)
    images: dict[str, QImage] = field(repr=False)

    def map_of(self, key: str):
        return self.heatmap.text_map if key == WHOLE_TEXT else self.heatmap.maps[key]

    def value_at(self, key: str, fx: float, fy: float) -> float:
        """The map's value in the patch-grid cell under (fx, fy), fractions of the upright photo."""
        grid = self.map_of(key)
        rows, cols = grid.shape
        row = min(rows - 1, max(0, int(fy * rows)))
        col = min(cols - 1, max(0, int(fx * cols)))
        return float(grid[row, col])


def uses_token_model(library: Library) -> bool:
    """True when the search model is a fine-tuned version trained with token-level alignment: its
    own patch tokens are aligned, and ClearCLIP's training-free trick must not be applied."""
    try:
        from trainer import versions

        version = versions.version_of(library, library.model)
    except Exception:  # a library without versions, or a trainer that cannot load: pretrained
        log.debug("cannot read the model version", exc_info=True)
        return False
    return bool(version is not None and version.config.get("token_loss"))


def compute_overlays(library: Library, path: str, text: str) -> HeatmapResult:
    """Decode `path`, map `text` over it and colour the maps. Runs in a worker thread."""
    from PIL import Image
    from PIL.ImageQt import ImageQt

    from engine.heatmaps import compute_heatmap, overlay
    from engine.photos import open_image

    encoder = library.encoder()
    image, meta = open_image(path, min_size=encoder.image_size)
    heatmap = compute_heatmap(encoder, image, text, clearclip=not uses_token_model(library))
    width, height = meta.width or image.width, meta.height or image.height  # upright, full size
    scale = min(1.0, OVERLAY_SIZE / max(width, height, 1))
    blank = Image.new("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
    images = {}
    for key in [WHOLE_TEXT, *heatmap.words]:
        grid = heatmap.text_map if key == WHOLE_TEXT else heatmap.maps[key]
        # alpha 1: the colour map alone; the canvas blends it with the photo at the chosen opacity.
        images[key] = QImage(ImageQt(overlay(blank, grid, 1.0))).copy()
    return HeatmapResult(path, text, heatmap, images)


class HeatmapCache:
    """The last few results, by (path, text)."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._items: OrderedDict[tuple[str, str], HeatmapResult] = OrderedDict()

    def get(self, path: str, text: str) -> HeatmapResult | None:
        result = self._items.get((path, text))
        if result is not None:
            self._items.move_to_end((path, text))
        return result

    def put(self, result: HeatmapResult) -> None:
        self._items[(result.path, result.text)] = result
        self._items.move_to_end((result.path, result.text))
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class HeatmapBar(QWidget):
    """Heatmap controls. Emits `toggled(on)`, `text_changed(text)`, `map_chosen(key)` and
    `opacity_changed(0..1)`; the viewer does the work."""

    toggled = Signal(bool)
    text_changed = Signal(str)
    map_chosen = Signal(str)
    opacity_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("heatmapBar")
        self.toggle = QPushButton("Heatmap")
        self.toggle.setObjectName("heatmapToggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Show where the words of the text are seen in this photo")
        self.toggle.toggled.connect(self._toggled)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Map another text…")
        self.text.setToolTip("The text whose heatmap is shown; empty: your search")
        self.text.setClearButtonEnabled(True)
        self.text.setFixedWidth(150)
        self.text.returnPressed.connect(lambda: self.text_changed.emit(self.text.text().strip()))
        self.chips_box = QWidget()
        self.chips_box.setObjectName("chipsBox")
        self.chips_layout = QHBoxLayout(self.chips_box)
        self.chips_layout.setContentsMargins(0, 0, 0, 0)
        self.chips_layout.setSpacing(4)
        self.chips_layout.addStretch(1)
        # A long text's chips scroll sideways instead of widening the window.
        self.chips_scroll = QScrollArea()
        self.chips_scroll.setWidget(self.chips_box)
        self.chips_scroll.setWidgetResizable(True)
        self.chips_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.chips_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chips_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.chips_scroll.setMinimumWidth(120)
        self.chips_scroll.setFixedHeight(42)  # room for a scroll bar under the chips
        self.chips = QButtonGroup(self)
        self.chips.setExclusive(True)
        self.chips.buttonClicked.connect(lambda b: self.map_chosen.emit(b.property("mapKey")))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setFixedWidth(90)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100))
        self.opacity_label = QLabel("◐")
        self.opacity_label.setToolTip("Heatmap opacity")
        self.opacity_label.setObjectName("hint")
        self.value = QLabel("")
        self.value.setObjectName("heatValue")
        self.value.setMinimumWidth(110)
        self.status = QLabel("")
        self.status.setObjectName("hint")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.toggle)
        layout.addWidget(self.text)
        layout.addWidget(self.chips_scroll, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.value)
        layout.addWidget(self.opacity_label)
        layout.addWidget(self.opacity)
        self._toggled(False)

    def _toggled(self, on: bool) -> None:
        for w in (self.text, self.chips_scroll, self.opacity, self.opacity_label, self.value, self.status):
            w.setVisible(on)
        self.toggled.emit(on)

    @property
    def enabled(self) -> bool:
        return self.toggle.isChecked()

    def set_chips(self, words: list[str], current: str = WHOLE_TEXT) -> None:
        for button in self.chips.buttons():
            self.chips.removeButton(button)
            button.deleteLater()
        for key in [WHOLE_TEXT, *words]:
            chip = QToolButton()
            chip.setObjectName("chip")
            chip.setText("Whole text" if key == WHOLE_TEXT else key)
            chip.setCheckable(True)
            chip.setProperty("mapKey", key)
            chip.setChecked(key == current)
            self.chips.addButton(chip)
            self.chips_layout.insertWidget(self.chips_layout.count() - 1, chip)

    def chip_keys(self) -> list[str]:
        return [b.property("mapKey") for b in self.chips.buttons()]

    def chip(self, key: str) -> QToolButton | None:
        for b in self.chips.buttons():
            if b.property("mapKey") == key:
                return b  # type: ignore[return-value]
        return None

    def current_key(self) -> str:
        button = self.chips.checkedButton()
        return button.property("mapKey") if button is not None else WHOLE_TEXT
