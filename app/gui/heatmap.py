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

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .flow import FlowLayout

if TYPE_CHECKING:
    from PIL import Image

    from engine.heatmaps import Heatmap
    from engine.library import Library

log = logging.getLogger(__name__)

WHOLE_TEXT = ""  # the chip key of the whole text's map
TAG_MAP = " · your tag"  # a tag map's chip key: the word, then this
OVERLAY_SIZE = 1024  # longest side of the coloured maps: smooth at any window size, cheap to blend
CACHE_SIZE = 16
DEFAULT_OPACITY = 70  # percent: how dark the spotlight's shadow is


@dataclass(frozen=True)
class HeatmapResult:
    """A photo's heatmap for one text, with every map already coloured (key WHOLE_TEXT = text)."""

    path: str
    text: str
    heatmap: Heatmap = field(repr=False)
    images: dict[str, QImage] = field(repr=False)

    def map_of(self, key: str):
        return all_maps(self.heatmap)[key]

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

        return versions.token_aligned(library)
    except Exception:  # a library without versions, or a trainer that cannot load: pretrained
        log.debug("cannot read the model version", exc_info=True)
        return False


def compute_overlays(library: Library, path: str, text: str) -> HeatmapResult:
    """Decode `path`, map `text` over it and colour the maps. Runs in a worker thread."""
    from PIL.ImageQt import ImageQt

    from engine.heatmaps import compute_heatmap
    from engine.photos import open_image

    encoder = library.encoder()
    image, meta = open_image(path, min_size=encoder.image_size)
    tags = library.tag_windows(text)  # the names of tags: where the tag search finds the object
    heatmap = compute_heatmap(encoder, image, text, clearclip=not uses_token_model(library), tags=tags)
    width, height = meta.width or image.width, meta.height or image.height  # upright, full size
    scale = min(1.0, OVERLAY_SIZE / max(width, height, 1))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    images = {}
    for key, grid in all_maps(heatmap).items():
        images[key] = QImage(ImageQt(spotlight(grid, size))).copy()
    return HeatmapResult(path, text, heatmap, images)


def all_maps(heatmap: Heatmap) -> dict[str, np.ndarray]:
    """Chip key -> map, in the chips' order: the whole text, each word, then each word's tag map."""
    return {
        WHOLE_TEXT: heatmap.text_map,
        **heatmap.maps,
        **{word + TAG_MAP: grid for word, grid in heatmap.tag_maps.items()},
    }


def spotlight(grid: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A shade over the photo that leaves where the map is high clear and darkens the rest.

    The photo stays readable (no false colours): the viewer draws this shade at the chosen
    opacity. The map is scaled to its own range (bright = the best-aligned region of this photo)
    and upsampled smoothly; the shade's alpha is 1 - value, on a gentle curve.
    """
    from PIL import Image

    values = np.asarray(grid, np.float32)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.ones_like(values)
    large = Image.fromarray(scaled, "F").resize(size, Image.Resampling.BILINEAR)
    shade = np.clip(1.0 - np.asarray(large), 0.0, 1.0) ** 0.8
    alpha = Image.fromarray((shade * 255 + 0.5).astype(np.uint8), "L")
    black = Image.new("RGBA", size, (12, 12, 16, 0))
    black.putalpha(alpha)
    return black


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
    `opacity_changed(0..1)`; the viewer does the work.

    One row of controls and, below it, the word chips, which wrap onto more lines rather than
    widen the window (the bar never asks for more width than its first row).
    """

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
        self.toggle.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Map another text…")
        self.text.setToolTip("The text whose heatmap is shown; empty: your search")
        self.text.setClearButtonEnabled(True)
        self.text.setMinimumWidth(80)
        self.text.setMaximumWidth(220)
        self.text.returnPressed.connect(lambda: self.text_changed.emit(self.text.text().strip()))
        self.chips_box = QWidget()
        self.chips_box.setObjectName("chipsBox")
        self.chips_layout = FlowLayout(self.chips_box)
        self.chips = QButtonGroup(self)
        self.chips.setExclusive(True)
        self.chips.buttonClicked.connect(lambda b: self.map_chosen.emit(b.property("mapKey")))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY)
        self.opacity.setFixedWidth(90)
        self.opacity.setToolTip("How strongly the rest of the photo is dimmed")
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100))
        self.opacity_label = QLabel("Dim")
        self.opacity_label.setObjectName("hint")
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.toggle)
        row.addWidget(self.text, 1)
        row.addWidget(self.status, 1)
        row.addWidget(self.opacity_label)
        row.addWidget(self.opacity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(row)
        layout.addWidget(self.chips_box)
        self._toggled(False)

    def _toggled(self, on: bool) -> None:
        for w in (self.text, self.chips_box, self.opacity, self.opacity_label, self.status):
            w.setVisible(on)
        self.toggled.emit(on)

    @property
    def enabled(self) -> bool:
        return self.toggle.isChecked()

    def set_chips(self, words: list[str], current: str = WHOLE_TEXT) -> None:
        """Chips for the whole text and each of `words` (map keys: a word, or a word + TAG_MAP)."""
        for button in self.chips.buttons():
            self.chips.removeButton(button)
            self.chips_layout.removeWidget(button)
            button.deleteLater()
        for key in [WHOLE_TEXT, *words]:
            chip = QToolButton()
            chip.setObjectName("chip")
            chip.setText("All words" if key == WHOLE_TEXT else key)
            chip.setToolTip(_chip_tip(key))
            chip.setCheckable(True)
            chip.setProperty("mapKey", key)
            chip.setChecked(key == current)
            self.chips.addButton(chip)
            self.chips_layout.addWidget(chip)
        self.chips_box.updateGeometry()

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


def _chip_tip(key: str) -> str:
    if key == WHOLE_TEXT:
        return "Where the whole text is seen"
    if key.endswith(TAG_MAP):
        return f"Where the photos you tagged “{key.removesuffix(TAG_MAP)}” find it"
    return f"Where “{key}” is seen"
