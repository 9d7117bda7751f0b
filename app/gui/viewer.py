"""The photo viewer: one photo large and upright, its metadata, previous/next and actions, its
tags (with highlight tools) and the heatmap of a text over it.

The photo is decoded in a pool thread (engine.photos.thumbnail at screen size, which applies the
EXIF orientation and decodes JPEGs at a reduced scale) and arrives as a QImage. Heatmaps and every
tag change run in workers too (see workers.py); results for a photo no longer shown are dropped.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from . import desktop
from . import tags as tag_jobs
from .canvas import ZOOM_STEP, PhotoCanvas, make_mark
from .heatmap import TAG_MAP, WHOLE_TEXT, HeatmapBar, HeatmapCache, HeatmapResult, compute_overlays
from .results_model import format_time
from .tags import TagPanel
from .workers import Runner

if TYPE_CHECKING:
    from engine.library import Library
    from engine.photos import Exposure
    from engine.search import Hit
    from engine.storage.texts import PhotoText
    from engine.tags import Tag

VIEW_SIZE = 2048  # longest side decoded for the viewer: sharp on most screens, cheap to decode
ZOOM_SIZE = 8192  # longest side decoded when zoomed in (a 100 MP panorama in full: 400 MB)
# The viewer's keys and gestures, as Help > Keyboard Shortcuts lists them (the keys are bound in
# Viewer.__init__).
VIEWER_KEYS = (
    ("Left / Right", "Previous / next photo"),
    ("+ / −, mouse wheel", "Zoom in / out"),
    ("0", "Fit the photo to the window"),
    ("Double-click", "The photo at its own pixels, then fitted again"),
    ("Drag", "Move a zoomed photo"),
    ("Escape / Backspace", "Back to the photos"),
)
log = logging.getLogger(__name__)


def load_view_image(path: str, size: int = VIEW_SIZE) -> QImage:
    """Decode an upright photo for display. Runs in a worker thread (QImage is thread-safe)."""
    from PIL.ImageQt import ImageQt

    from engine.photos import thumbnail

    image = thumbnail(path, size).convert("RGB")
    return QImage(ImageQt(image)).copy()  # copy: detach from the PIL buffer before it is freed


def load_exposure(path: str) -> Exposure:
    """The photo's exposure, from its file's header. Runs in a worker thread."""
    from engine.photos import read_exposure

    return read_exposure(path)


def describe_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def describe_camera(make: str | None, model: str | None) -> str:
    """ "Canon EOS 40D", not "Canon Canon EOS 40D": most models already start with the make, or
    with its brand ("KODAK DC240" by "EASTMAN KODAK COMPANY", "NIKON D70" by "NIKON CORPORATION")."""
    make, model = (make or "").strip(), (model or "").strip()
    if make and model and model.split()[0].lower() in make.lower().split():
        return model
    return " ".join(x for x in (make, model) if x)


def describe_exposure(exposure: Exposure) -> str:
    """ "1/250 s · f/5.6 · ISO 200 · 50 mm (75 mm equiv.)": what the EXIF says, in the usual words."""

    def number(value: float) -> str:
        return f"{value:.1f}".rstrip("0").rstrip(".")

    parts = []
    if exposure.seconds is not None:
        seconds = exposure.seconds
        parts.append(f"{number(seconds)} s" if seconds >= 0.5 else f"1/{round(1 / seconds)} s")
    if exposure.f_number is not None:
        parts.append(f"f/{number(exposure.f_number)}")
    if exposure.iso is not None:
        parts.append(f"ISO {exposure.iso}")
    if exposure.focal_mm is not None:
        equivalent = exposure.focal_35mm
        same = equivalent is None or equivalent == round(exposure.focal_mm)
        focal = f"{exposure.focal_mm:.3g}" if exposure.focal_mm < 100 else f"{exposure.focal_mm:.0f}"
        parts.append(f"{focal} mm" + ("" if same else f" ({equivalent} mm equiv.)"))
    return "  ·  ".join(parts)


def describe_location(latitude: float, longitude: float) -> str:
    """Degrees, minutes and seconds, and a link to the place on a map (rich text)."""

    def dms(value: float, positive: str, negative: str) -> str:
        whole = abs(value)
        degrees, minutes = int(whole), int(whole * 60) % 60
        seconds = (whole * 3600) % 60
        return f"{degrees}°{minutes:02d}′{seconds:04.1f}″ {positive if value >= 0 else negative}"

    url = f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}#map=15/{latitude:.5f}/{longitude:.5f}"
    return f'{dms(latitude, "N", "S")}, {dms(longitude, "E", "W")} · <a href="{url}">map</a>'


def metadata_rows(hit: Hit, exposure: Exposure | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs shown beside the photo; `exposure` as read from the file, once read."""
    p = hit.photo
    rows = [("File", os.path.basename(hit.path))]
    if p.taken_at is not None:
        rows.append(("Taken", format_time(p.taken_at)))
    else:
        rows.append(("Modified", format_time(p.mtime)))
    camera = describe_camera(p.camera_make, p.camera_model)
    if camera:
        rows.append(("Camera", camera))
    if exposure is not None and exposure.lens:
        rows.append(("Lens", exposure.lens))
    settings = describe_exposure(exposure) if exposure is not None else ""
    if settings:
        rows.append(("Exposure", settings))
    if p.width and p.height:
        rows.append(("Size", f"{p.width} × {p.height}  ·  {describe_size(p.size)}"))
    else:
        rows.append(("Size", describe_size(p.size)))
    if p.latitude is not None and p.longitude is not None:
        rows.append(("Location", describe_location(p.latitude, p.longitude)))
    rows.append(("Folder", os.path.dirname(hit.path)))
    return rows


class Viewer(QWidget):
    """Emits `closed`, `step(+1/-1)`, `find_similar(path)` and `tags_changed(text)`; the window owns
    navigation. Set `library` (and `query_text`, the text a heatmap maps by default)."""

    closed = Signal()
    step = Signal(int)
    find_similar = Signal(str)
    tags_changed = Signal(str)  # the tag given, removed or highlighted
    heatmap_ready = Signal()  # an overlay for the current photo and text is shown
    tags_loaded = Signal()  # the tag panel shows the current photo's tags
    handoff_failed = Signal(str)  # no app could open the photo or its folder: what to tell the user
    text_loaded = Signal()  # the text read in the current photo is shown
    exposure_loaded = Signal()  # the details show the current photo's exposure, read from its file

    def __init__(self, runner: Runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("viewer")
        self.runner = runner
        self.library: Library | None = None
        self.query_text = ""
        self.hit: Hit | None = None
        self.image: QImage | None = None
        self.heat: HeatmapResult | None = None
        self.heatmaps = HeatmapCache()  # cleared when tags change (the window's tag controller)
        self.hover_value: float | None = None
        self._generation = 0
        self._full_requested = False  # the whole photo is being (or was) decoded for a zoom
        self._picked_map: tuple[str, str | None] = ("", None)  # (heatmap text, the chip the user picked)
        self._tag_tickets = 0  # tag loads and changes submitted, counted
        self._tags_shown = 0  # the ticket of the tags on show

        self.photo = PhotoCanvas()
        self.photo.setObjectName("viewerPhoto")
        self.photo.hovered.connect(self._hovered)
        self.photo.box_drawn.connect(self._box_drawn)
        self.photo.mask_edited.connect(self._mask_edited)
        self.photo.zoomed.connect(self._zoomed)
        self.message = QLabel("")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setObjectName("viewerMessage")
        self.heatmap_bar = HeatmapBar()
        self.heatmap_bar.toggled.connect(self._heatmap_toggled)
        self.heatmap_bar.text_changed.connect(lambda _t: self.request_heatmap())
        self.heatmap_bar.map_chosen.connect(self._map_chosen)
        self.heatmap_bar.opacity_changed.connect(self.photo.set_overlay_opacity)
        self.photo.set_overlay_opacity(self.heatmap_bar.opacity.value() / 100)

        self.back_button = QPushButton("← Back")
        self.prev_button = QPushButton("‹ Previous")
        self.next_button = QPushButton("Next ›")
        self.position = QLabel("")
        self.back_button.clicked.connect(self.closed.emit)
        self.prev_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addStretch(1)
        top.addWidget(self.position)
        top.addStretch(1)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)

        self.details = QFormLayout()
        self.details.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.details.setVerticalSpacing(8)
        self.similar_button = QPushButton("Find similar")
        self.similar_button.setObjectName("primaryButton")
        self.open_button = QPushButton("Open with default app")
        self.folder_button = QPushButton("Show in folder")
        self.similar_button.clicked.connect(self._find_similar)
        self.open_button.clicked.connect(self.open_external)
        self.folder_button.clicked.connect(self.show_in_folder)
        self.text_title = QLabel("Text in photo")
        self.text_title.setObjectName("sectionTitle")
        self.text_label = QLabel("")
        self.text_label.setObjectName("photoText")
        self.text_label.setWordWrap(True)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text_boxes_toggle = QCheckBox("Show where")
        self.text_boxes_toggle.setChecked(True)
        self.text_boxes_toggle.toggled.connect(self._show_text_boxes)
        self.photo_text: PhotoText | None = None
        self.tag_panel = TagPanel()
        self.tag_panel.add_requested.connect(self.add_tag)
        self.tag_panel.remove_requested.connect(self.remove_tag)
        self.tag_panel.selection_changed.connect(self._show_highlight)
        self.tag_panel.tool_changed.connect(self.photo.set_mode)
        self.tag_panel.brush_changed.connect(lambda r: setattr(self.photo, "brush_radius", r))
        side = QVBoxLayout()
        side.setSpacing(8)
        side.addLayout(self.details)
        side.addSpacing(12)
        for b in (self.similar_button, self.open_button, self.folder_button):
            side.addWidget(b)
        side.addSpacing(12)
        side.addWidget(self.text_title)
        side.addWidget(self.text_label)
        side.addWidget(self.text_boxes_toggle)
        side.addSpacing(12)
        side.addWidget(self.tag_panel)
        side.addStretch(1)
        panel = QFrame()
        panel.setObjectName("viewerPanel")
        panel.setLayout(side)
        scroll = QScrollArea()
        scroll.setObjectName("viewerScroll")
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(310)

        body = QHBoxLayout()
        body.setSpacing(12)
        stage = QVBoxLayout()
        stage.addWidget(self.photo, 1)
        stage.addWidget(self.message)
        stage.addWidget(self.heatmap_bar)
        body.addLayout(stage, 1)
        body.addWidget(scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(top)
        layout.addLayout(body, 1)

        for key, slot in (
            (Qt.Key.Key_Left, lambda: self.step.emit(-1)),
            (Qt.Key.Key_Right, lambda: self.step.emit(1)),
            (Qt.Key.Key_Escape, self.closed.emit),
            (Qt.Key.Key_Backspace, self.closed.emit),
            (Qt.Key.Key_Plus, lambda: self.photo.zoom_by(ZOOM_STEP)),
            (Qt.Key.Key_Equal, lambda: self.photo.zoom_by(ZOOM_STEP)),
            (Qt.Key.Key_Minus, lambda: self.photo.zoom_by(1 / ZOOM_STEP)),
            (Qt.Key.Key_0, self.photo.fit),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def show_hit(self, hit: Hit, position: int, count: int) -> None:
        self.hit = hit
        self.image = None
        self._full_requested = False
        self.heat = None
        self.hover_value = None
        self.photo.set_image(None)
        self.photo.set_overlay(None)
        self.photo.clear_highlight()
        self.message.setText("Loading…")
        self.position.setText(f"{position + 1:,} of {count:,}")
        self.prev_button.setEnabled(position > 0)
        self.next_button.setEnabled(position + 1 < count)
        self._show_details(hit)
        self._generation += 1
        generation = self._generation
        path = hit.path
        self.runner.submit(
            lambda: load_view_image(path),
            lambda image: self._loaded(generation, image),
            lambda error: self._failed(generation, error),
            priority=10,
        )
        # The exposure is not stored in the library: read from the file's header when shown (a
        # file that cannot be read says so through the image above).
        self.runner.submit(
            lambda: load_exposure(path),
            lambda exposure: self._exposure_read(generation, hit, exposure),
            lambda _error: None,
            priority=10,
        )
        self.tag_panel.set_tags([])
        self.reload_tags()
        self.reload_text()
        if self.heatmap_bar.enabled:
            self.request_heatmap()

    def _show_details(self, hit: Hit, exposure: Exposure | None = None) -> None:
        while self.details.rowCount():
            self.details.removeRow(0)
        for label, value in metadata_rows(hit, exposure):
            field = QLabel(value)
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
            field.setOpenExternalLinks(True)
            self.details.addRow(f"{label}:", field)

    def _exposure_read(self, generation: int, hit: Hit, exposure: Exposure) -> None:
        if generation == self._generation and (exposure.lens or describe_exposure(exposure)):
            self._show_details(hit, exposure)
            self.exposure_loaded.emit()

    def metadata(self) -> dict[str, str]:
        """What the details panel shows, label -> value (for tests and accessibility)."""
        out = {}
        for row in range(self.details.rowCount()):
            label = self.details.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = self.details.itemAt(row, QFormLayout.ItemRole.FieldRole)
            label_widget = label.widget() if label is not None else None
            field_widget = field.widget() if field is not None else None
            if isinstance(label_widget, QLabel) and isinstance(field_widget, QLabel):
                out[label_widget.text().rstrip(":")] = field_widget.text()
        return out

    def _loaded(self, generation: int, image: QImage, keep_view: bool = False) -> None:
        if generation != self._generation:
            return
        self.image = image
        self.message.setText("")
        self.photo.set_image(image, keep_view)

    def _zoomed(self) -> None:
        """Zoomed in past the pixels decoded for viewing: decode the whole photo (once)."""
        hit, image = self.hit, self.image
        if hit is None or image is None or self.photo.drawn_scale() <= 1.0 or self._full_requested:
            return
        side = min(ZOOM_SIZE, max(hit.photo.width or 0, hit.photo.height or 0))
        if side <= max(image.width(), image.height()):
            return
        self._full_requested = True
        generation, path = self._generation, hit.path
        self.runner.submit(
            lambda: load_view_image(path, side),
            lambda full: self._loaded(generation, full, keep_view=True),
            lambda error: log.warning("cannot decode %s in full: %s", path, error),
            priority=10,
        )

    def _failed(self, generation: int, error: Exception) -> None:
        if generation != self._generation:
            return
        reason = getattr(error, "reason", None) or str(error)
        self.message.setText(f"This photo cannot be shown: {reason}")

    # -- heatmap -----------------------------------------------------------------------------

    def heatmap_text(self) -> str:
        """The text to map: the viewer's own field, else the search's text."""
        from engine.search import parse_query_text

        own = self.heatmap_bar.text.text().strip()
        return own or parse_query_text(self.query_text)[0]

    def set_heatmap(self, on: bool) -> None:
        self.heatmap_bar.toggle.setChecked(on)

    def _heatmap_toggled(self, on: bool) -> None:
        if on:
            self.request_heatmap()
        else:
            self.photo.set_overlay(None)
            self.heat = None
            self.hover_value = None

    def request_heatmap(self) -> None:
        """Compute (or take from the cache) the heatmap of `heatmap_text()` over this photo."""
        bar = self.heatmap_bar
        if not bar.enabled or self.hit is None:
            return
        text = self.heatmap_text()
        if not text:
            self.heat = None
            self.photo.set_overlay(None)
            bar.set_chips([])
            bar.status.setText("Type a text to map")
            return
        if self.library is None:
            bar.status.setText("The library is not open yet")
            return
        path = self.hit.path
        cached = self.heatmaps.get(path, text)
        if cached is not None:
            self._heat_ready(cached)
            return
        bar.status.setText("Computing…")
        library, generation = self.library, self._generation
        self.runner.submit(
            lambda: compute_overlays(library, path, text),
            lambda result: self._heat_done(generation, result),
            lambda error: self._heat_failed(generation, error),
            priority=8,
        )

    def _heat_done(self, generation: int, result: HeatmapResult) -> None:
        self.heatmaps.put(result)
        if generation == self._generation and self.heatmap_bar.enabled and result.text == self.heatmap_text():
            self._heat_ready(result)

    def _heat_failed(self, generation: int, error: Exception) -> None:
        if generation == self._generation:
            self.heatmap_bar.status.setText(f"No heatmap: {getattr(error, 'reason', None) or error}")

    def _heat_ready(self, result: HeatmapResult) -> None:
        # The map the user picked, where this text has it; else a tag's map, where the text names a
        # tag (the model's map of a name it never learnt points anywhere), else the whole text's.
        text, picked = self._picked_map
        picked = picked if text == result.text else None
        tag_maps = [k for k in result.images if k.endswith(TAG_MAP)]
        key = picked if picked in result.images else (tag_maps[0] if tag_maps else WHOLE_TEXT)
        self.heat = result
        self.heatmap_bar.set_chips([k for k in result.images if k != WHOLE_TEXT], key)
        self.heatmap_bar.status.setText("")
        self.photo.set_overlay(result.images[key])
        self.heatmap_ready.emit()

    def _map_chosen(self, key: str) -> None:
        if self.heat is None:
            return
        self._picked_map = (self.heat.text, key)
        if key in self.heat.images:
            self.photo.set_overlay(self.heat.images[key])

    def _hovered(self, point: tuple[float, float] | None) -> None:
        """The map's value under the pointer (for the tooltip-free readout tests and tools use)."""
        if self.heat is None or point is None:
            self.hover_value = None
            return
        self.hover_value = self.heat.value_at(self.heatmap_bar.current_key(), *point)

    # -- text in the photo -------------------------------------------------------------------

    def reload_text(self) -> None:
        """Show the text the OCR pass read in this photo, with its boxes (loaded in a worker)."""
        self.photo_text = None
        self._set_text(None)
        if self.library is None or self.hit is None:
            return
        library, path, generation = self.library, self.hit.path, self._generation
        self.runner.submit(lambda: library.photo_text(path), lambda found: self._text_ready(generation, found))

    def _text_ready(self, generation: int, found: PhotoText | None) -> None:
        if generation != self._generation:
            return
        self.photo_text = found
        self._set_text(found)
        self.text_loaded.emit()

    def _set_text(self, found: PhotoText | None) -> None:
        has_lines = found is not None and bool(found.lines)
        for widget in (self.text_title, self.text_label):
            widget.setVisible(has_lines)
        self.text_boxes_toggle.setVisible(has_lines)
        self.text_label.setText(found.text if found is not None and has_lines else "")
        self._show_text_boxes(self.text_boxes_toggle.isChecked())

    def _show_text_boxes(self, on: bool) -> None:
        found = self.photo_text
        self.photo.set_text_boxes([line.box for line in found.lines] if on and found is not None else [])

    # -- tags --------------------------------------------------------------------------------

    def reload_tags(self) -> None:
        if self.library is None or self.hit is None:
            return
        library, path, request = self.library, self.hit.path, self._tag_request()
        self.runner.submit(
            lambda: (tag_jobs.tags_of(library, path), list(tag_jobs.tag_counts(library))),
            lambda result: self._tags_ready(request, *result),
        )

    def _tag_request(self) -> tuple[int, int]:
        """(photo generation, ticket) for a job that answers with this photo's tags. Jobs answer
        out of order: the load that opening the photo started could answer after a load or a
        change submitted later, and showed the tags as they were before it."""
        self._tag_tickets += 1
        return self._generation, self._tag_tickets

    def _tags_ready(self, request: tuple[int, int], tags: list[Tag], known: list[str] | None = None) -> None:
        generation, ticket = request
        if generation != self._generation or ticket < self._tags_shown:
            return
        self._tags_shown = ticket
        if known is not None:
            self.tag_panel.set_known_texts(known)
        self.tag_panel.set_tags(tags)
        self.tags_loaded.emit()

    def _tag_failed(self, error: Exception) -> None:
        self.tag_panel.highlight_status.setText(str(error))
        self.tag_panel.show_error(str(error))

    def add_tag(self, text: str) -> None:
        if self.library is None or self.hit is None:
            return
        library, path, request = self.library, self.hit.path, self._tag_request()

        def work():
            outcome = tag_jobs.tag_photos(library, [path], text)
            return outcome, tag_jobs.tags_of(library, path)

        def done(result) -> None:
            outcome, tags = result
            if not outcome.tagged:  # what was typed stays in the field, with the reason
                self.tag_panel.show_error(outcome.failed[0][1] if outcome.failed else "Not tagged.")
                return
            self.tag_panel.added()
            self._tags_ready(request, tags)
            self.tag_panel.choose(outcome.text)
            self.tags_changed.emit(outcome.text)

        self.runner.submit(work, done, self._tag_failed)

    def remove_tag(self, text: str) -> None:
        if self.library is None or self.hit is None:
            return
        library, path, request = self.library, self.hit.path, self._tag_request()

        def done(tags: list[Tag]) -> None:
            self._tags_ready(request, tags)
            self.tags_changed.emit(text)

        self.runner.submit(lambda: tag_jobs.remove_tag(library, path, text), done, self._tag_failed)

    def _show_highlight(self) -> None:
        """Every tag's highlights, labelled; with a tag chosen, its own (the chosen phrase editable)."""
        panel = self.tag_panel
        marks = [make_mark(label, h.box, h.mask, place) for label, h, place in panel.shown_highlights()]
        self.photo.set_marks([m for m in marks if m is not None])
        highlight = panel.current_highlight()
        if highlight is None:
            self.photo.clear_highlight()
        else:
            self.photo.set_highlight(highlight.box, highlight.mask, highlight.phrase)

    def _box_drawn(self, box: tuple[float, float, float, float]) -> None:
        self._save_highlight(box=box)

    def _mask_edited(self) -> None:
        mask = self.photo.mask_png()
        if mask is None:
            self.tag_panel.highlight_status.setText("Nothing painted: paint over the photo with the brush.")
            return
        self._save_highlight(mask=mask)

    def _save_highlight(self, box=None, mask: bytes | None = None) -> None:
        text, phrase = self.tag_panel.current_tag_text(), self.tag_panel.current_phrase()
        if self.library is None or self.hit is None or text is None or phrase is None:
            return
        library, path, request = self.library, self.hit.path, self._tag_request()

        def done(tags: list[Tag]) -> None:
            self._tags_ready(request, tags)
            self.tag_panel.highlight_status.setText(f"Saved where “{phrase}” is.")
            self.tags_changed.emit(text)

        self.tag_panel.highlight_status.setText("Saving…")
        self.runner.submit(
            lambda: tag_jobs.save_highlight(library, path, text, phrase, box=box, mask=mask),
            done,
            self._tag_failed,
        )

    # -- actions -----------------------------------------------------------------------------

    def _find_similar(self) -> None:
        if self.hit is not None:
            self.find_similar.emit(self.hit.path)

    def open_external(self) -> None:
        if self.hit is not None and not desktop.open_with_default_app(self.hit.path):
            self.handoff_failed.emit(desktop.cannot_open_text(self.hit.path, "open photos"))

    def show_in_folder(self) -> None:
        if self.hit is not None and not desktop.show_in_folder(self.hit.path):
            self.handoff_failed.emit(desktop.cannot_open_text(self.hit.path, "show folders"))
