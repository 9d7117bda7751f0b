"""Tools → Train on my tags…: fine-tune the model on the user's tags, watch it learn, compare
before and after, and choose which model version answers searches.

`trainer.train` runs in a worker; its progress callback fires on that thread and is forwarded
through a queued signal (workers.py). Cancel sets the `threading.Event` the trainer honours.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .jobs import model_display_name
from .results_model import format_time
from .status import describe_eta
from .style import ACCENT
from .workers import Runner

if TYPE_CHECKING:
    from engine.library import Library
    from trainer.train import CloseUps, TrainProgress, TrainResult
    from trainer.versions import Activation, ModelVersion

log = logging.getLogger(__name__)

TUNE_CHOICES = (
    ("names", "Your names only (fastest; other searches unchanged)"),
    ("text", "Text side (fast, no re-indexing)"),
    ("lora", "LoRA on both towers (re-indexes photos)"),
    ("full", "Everything (slowest, re-indexes photos)"),
)
LOSS_CHOICES = (("sigmoid", "Sigmoid (SigLIP): robust with few photos"), ("softmax", "Softmax (CLIP)"))


class LossPlot(QWidget):
    """The training loss per step, scaled to its own range: a run trains the model a few times on
    part of the tags (the held-out checks, drawn grey) and then on all of them (the accent line).
    Each fit starts high again; drawn as one line, that read as training going wrong."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.points: list[float] = []
        self.starts: list[int] = []  # where each fit's steps begin in `points`
        self.setMinimumHeight(120)
        self.setObjectName("lossPlot")

    def sizeHint(self) -> QSize:
        return QSize(420, 140)

    def set_points(self, values: Sequence[float], starts: Sequence[int] = ()) -> None:
        self.points = [float(v) for v in values]
        self.starts = list(starts) or ([0] if self.points else [])
        self.update()

    def add(self, value: float, fit: int = 0) -> None:
        """One step's loss; `fit` counts the fits of the run from 0."""
        while len(self.starts) <= fit:
            self.starts.append(len(self.points))
        self.points.append(float(value))
        self.update()

    def polylines(self) -> list[QPolygonF]:
        """Each fit's curve in widget coordinates (what paintEvent draws), on one step axis."""
        area = self._area()
        if not self.points:
            return []
        low, high = min(self.points), max(self.points)
        span = (high - low) or 1.0
        n = len(self.points)
        ends = self.starts[1:] + [n]
        lines = []
        for begin, end in zip(self.starts, ends, strict=True):
            line = QPolygonF()
            for i in range(begin, end):
                x = area.left() + (area.width() * i / (n - 1) if n > 1 else area.width() / 2)
                line.append(QPointF(x, area.bottom() - area.height() * (self.points[i] - low) / span))
            lines.append(line)
        return lines

    def caption(self) -> str:
        checks = len(self.starts) - 1
        if checks < 1:
            return f"step 1 … {len(self.points)}"
        plural = "s" if checks > 1 else ""
        return f"{checks} check{plural} on held-out photos (grey), then the model · {len(self.points):,} steps"

    def _area(self) -> QRectF:
        return QRectF(self.rect()).adjusted(46, 10, -10, -22)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        area = self._area()
        painter.setPen(QPen(QColor("#d5d8de"), 1))
        painter.drawRect(area)
        painter.setPen(QColor("#6b7280"))
        if not self.points:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "The loss curve appears here")
            painter.end()
            return
        low, high = min(self.points), max(self.points)
        align_right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(QRectF(0, area.top() - 8, 42, 16), align_right, f"{high:.3g}")
        painter.drawText(QRectF(0, area.bottom() - 8, 42, 16), align_right, f"{low:.3g}")
        painter.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 16),
            Qt.AlignmentFlag.AlignCenter,
            self.caption(),
        )
        lines = self.polylines()
        for k, line in enumerate(lines):
            last = k == len(lines) - 1
            painter.setPen(QPen(QColor(ACCENT) if last else QColor("#b8bec9"), 2 if last else 1.5))
            if line.size() == 1:
                painter.drawEllipse(line.at(0), 3, 3)
            else:
                painter.drawPolyline(line)
        painter.end()


class _Progress(QObject):
    """Lives on the UI thread: the trainer's thread emits, the dialog's slot runs here."""

    progress = Signal(object)


def _metrics_text(before: dict, after: dict) -> str:
    k = after.get("k", before.get("k", 10))
    agreement = after.get("agreement", 1)
    return (
        f"Held-out AP {before.get('ap', 0):.2f} → {after.get('ap', 0):.2f}   ·   "
        f"recall@{k}: {before.get('recall_at_k', 0):.2f} → {after.get('recall_at_k', 0):.2f}"
        f"   ·   mean rank {before.get('mean_rank', 0):.1f} → {after.get('mean_rank', 0):.1f}"
        + (f"   ·   everyday-query agreement {agreement:.2f}" if agreement is not None
           else "   ·   everyday queries not checked (the base model is at random init)")  # fmt: skip
    )


def load_versions(library: Library) -> tuple[list[ModelVersion], int, str, int]:
    """(versions, the active one, the base model's name, tagged photos). Runs in a worker."""
    from trainer import versions
    from trainer.data import load_tagged_photos

    return (
        versions.list_versions(library),
        versions.active_version(library),
        versions.training_base(library).name,
        len(load_tagged_photos(library.store)),
    )


def use_version(library: Library, version: int) -> Activation:
    from trainer import versions

    return versions.use_version(library, version)


def roll_back(library: Library) -> Activation:
    from trainer import versions

    return versions.rollback(library)


def outcome_text(result: TrainResult) -> str:
    """What came of a run, in plain words, from the trainer's gate."""
    verdict = result.verdict
    decision = verdict.decision if verdict is not None else ("activated" if result.activated else "kept")
    if result.activated:
        extra = " Photos are being re-indexed for it." if result.reembedding else ""
        return f"The model learnt your tags, so it is now switched on.{extra} {result.search_note()}".strip()
    why = f" ({verdict.reason})" if verdict is not None else ""
    if decision == "refused":
        return f"What it learnt made search worse{why}, so search stays as it was."
    return (
        f"Search did not measurably improve{why}, so it stays as it was. You can still try it under Details."
    )


def _close_ups_text(close_ups: CloseUps) -> str:
    v = close_ups.verdict
    return (f"\nClose-ups: search's held-out AP {close_ups.before:.2f} → {close_ups.after:.2f}: {v.reason}"
            f" (gain {v.gain:+.3f} ± {v.se:.3f}, {v.measurements} measurements).")  # fmt: skip


class TrainingDialog(QDialog):
    """Options, Start/Cancel, progress, loss curve, before/after, and the list of model versions.

    Signals: `model_changed(reembedding: bool)` after a run or a Use/Roll back switched models;
    `finished_training(TrainResult)`; `failed(message)`; `versions_loaded()`.
    """

    model_changed = Signal(bool)
    finished_training = Signal(object)
    failed = Signal(str)
    versions_loaded = Signal()

    def __init__(self, runner: Runner, library: Library, parent: QWidget | None = None, read_only: str = ""):
        super().__init__(parent)
        self.runner = runner
        self.library = library
        self.read_only = read_only  # why nothing can be learnt or switched here ("" when it can)
        self.running = False
        self.last_result: TrainResult | None = None
        self._cancel = threading.Event()
        self._bridge = _Progress(self)
        self._bridge.progress.connect(self._on_progress)
        self.setWindowTitle("Teach search your tags")
        self.setMinimumWidth(560)
        intro = QLabel(
            "Viewfinder can learn what your tags mean from the photos you tagged, so that searching "
            "for them finds more of the right photos. It keeps the new search only if it works better "
            "on photos it did not learn from."
        )
        intro.setWordWrap(True)

        self.loss = QComboBox()
        for key, label in LOSS_CHOICES:
            self.loss.addItem(label, key)
        self.token_loss = QCheckBox("Align words with photo regions (token-level; uses your highlights)")
        self.tune = QComboBox()
        for key, label in TUNE_CHOICES:
            self.tune.addItem(label, key)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(10)
        options = QFormLayout()
        options.addRow("Loss:", self.loss)
        options.addRow("", self.token_loss)
        options.addRow("Tune:", self.tune)
        options.addRow("Epochs:", self.epochs)

        self.start_button = QPushButton("Learn from my tags")
        self.start_button.setObjectName("primaryButton")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.status = QLabel("Tag photos first: select them and press Ctrl+T.")
        self.status.setWordWrap(True)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()
        self.plot = LossPlot()
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        run_row = QHBoxLayout()
        run_row.addWidget(self.start_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)

        self.versions = QTreeWidget()
        self.versions.setRootIsDecorated(False)
        self.versions.setHeaderLabels(["Search model", "Learnt", "How", "Held-out recall", "In use"])
        self.versions.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.versions.setMinimumHeight(120)
        self.versions.currentItemChanged.connect(lambda *_: self._update_version_buttons())
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip("Search with the selected model")
        self.use_button.clicked.connect(self.use_selected)
        self.rollback_button = QPushButton("Go back")
        self.rollback_button.setToolTip("Go back to the model used before the last switch")
        self.rollback_button.clicked.connect(self.rollback)
        version_buttons = QHBoxLayout()
        version_buttons.addStretch(1)
        version_buttons.addWidget(self.use_button)
        version_buttons.addWidget(self.rollback_button)
        models = QGroupBox("Search models")
        models_layout = QVBoxLayout(models)
        models_layout.addWidget(self.versions)
        models_layout.addLayout(version_buttons)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        self.outcome.setObjectName("outcome")
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setAutoRaise(True)
        self._details_inside = inside = QWidget()
        details = QVBoxLayout(inside)
        details.setContentsMargins(0, 0, 0, 0)
        details.addLayout(options)
        details.addWidget(self.plot, 1)
        details.addWidget(self.metrics)
        details.addWidget(models)
        # On a screen lower than the details (a 768-pixel laptop) they scroll rather than overlap.
        self.details = QScrollArea()
        self.details.setWidget(inside)
        self.details.setWidgetResizable(True)
        self.details.setFrameShape(QScrollArea.Shape.NoFrame)
        self.details.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.details.hide()
        self.details_button.toggled.connect(self._show_details)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(run_row)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(self.outcome)
        layout.addWidget(self.details_button)
        layout.addWidget(self.details, 1)
        layout.addWidget(close)
        self._version_rows: list[int] = []
        self._update_version_buttons()
        self.reload_versions()
        if read_only:  # learning would only fail when it saves: say so before it starts
            self.start_button.setEnabled(False)
            self.error.setText(read_only)
            self.error.show()

    def _show_details(self, shown: bool) -> None:
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.details.setVisible(shown)
        self.fit_within(self.screen().availableGeometry())

    def fit_within(self, screen: QRect) -> None:
        """As tall as the content asks, within the screen's free area (the details scroll when it
        is lower), moved up where it would run off the bottom."""
        frame = self.frameGeometry().height() - self.geometry().height()
        hint = self.sizeHint()
        height = hint.height()
        if self.details.isVisible():  # a scroll area asks for little: ask for all of its content
            height += self._details_inside.sizeHint().height() - self.details.sizeHint().height()
        self.resize(max(self.width(), hint.width()), min(height, screen.height() - frame))
        top = min(self.frameGeometry().top(), screen.bottom() - self.frameGeometry().height())
        self.move(self.frameGeometry().left(), max(screen.top(), top))

    # -- training ----------------------------------------------------------------------------

    def config(self):
        from trainer.train import TrainConfig

        return TrainConfig(
            loss=self.loss.currentData(),
            token_loss=self.token_loss.isChecked(),
            tune=self.tune.currentData(),
            epochs=self.epochs.value(),
        )

    def start(self) -> None:
        if self.running:
            return
        config = self.config()
        self.running = True
        self.last_result = None
        self._cancel = threading.Event()
        self._started = time.monotonic()
        cancel, library, emit = self._cancel, self.library, self._bridge.progress.emit
        self.error.hide()
        self.metrics.setText("")
        self.outcome.setText("")
        self.plot.set_points([])
        self.progress.setRange(0, 0)
        self.status.setText("Preparing…")
        self._set_running(True)

        def work() -> TrainResult:
            from trainer.train import train

            return train(library, config, progress=emit, cancel=cancel)

        self.runner.submit(work, self._done, self._failed)

    def cancel(self) -> None:
        """Stop a run; the trainer stops between steps and stores nothing."""
        if self.running:
            self._cancel.set()
            self.status.setText("Stopping…")

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.start_button.setEnabled(not running and not self.read_only)
        self.cancel_button.setEnabled(running)
        for w in (self.loss, self.token_loss, self.tune, self.epochs):
            w.setEnabled(not running)
        self._update_version_buttons()

    def _on_progress(self, p: TrainProgress) -> None:
        if not self.running:
            return
        if p.phase == "close-ups" and p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.step)
            self.status.setText("Looking at each tag's likeliest photos up close…")
        elif p.phase == "training" and p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.step)
            if p.loss is not None:
                self.plot.add(p.loss, p.fit)
            eta = describe_eta(p.eta) if p.eta is not None and p.step < p.total else ""
            self.status.setText("Learning from your tags…" + (f"  {eta}" if eta else ""))
        elif p.phase != "done":
            self.progress.setRange(0, 0)
            self.status.setText(
                {
                    "preparing": "Preparing…",
                    "evaluating": "Checking the result on photos it did not learn from…",
                    "close-ups": "Looking at each tag's likeliest photos up close…",
                    "saving": "Saving…",
                }.get(p.phase, p.phase.capitalize() + "…")
            )

    def _done(self, result: TrainResult) -> None:
        self._set_running(False)
        self.last_result = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if not result.cancelled else 0)
        if result.losses:
            self.plot.set_points(result.losses, result.fit_starts)
        if result.cancelled:
            self.status.setText("Training stopped; nothing was changed.")
            self.finished_training.emit(result)
            return
        self.status.setText(f"Finished in {result.seconds:.0f} s.")
        self.metrics.setText(
            f"{result.steps:,} steps. " + _metrics_text(result.before.to_json(), result.after.to_json())
            + (f"\nThe check: {result.verdict.reason} (gain {result.verdict.gain:+.3f} ± {result.verdict.se:.3f},"
               f" {result.verdict.measurements} measurements)." if result.verdict else "")
            + (_close_ups_text(result.close_ups) if result.close_ups else "")
        )  # fmt: skip
        self.outcome.setText(outcome_text(result))
        self.finished_training.emit(result)
        if result.activated:
            self.model_changed.emit(result.reembedding)
        self.reload_versions()

    def _failed(self, error: Exception) -> None:
        from trainer.data import NotEnoughTags

        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("Nothing was learnt.")
        if isinstance(error, NotEnoughTags):
            message = (
                f"Tag at least {error.need_photos} photos first (select them in the grid and press Ctrl+T);"
                f" {error.photos} tagged so far."
            )
        else:
            message = str(error)
        self.error.setText(message)
        self.error.show()
        self.failed.emit(str(error))

    # -- versions ----------------------------------------------------------------------------

    def reload_versions(self) -> None:
        library = self.library
        self.runner.submit(lambda: load_versions(library), self._versions_ready, self._version_failed)

    def _versions_ready(self, loaded: tuple[list[ModelVersion], int, str, int]) -> None:
        from trainer.data import MIN_TAGGED_PHOTOS

        listed, active, base, tagged = loaded
        if not self.running and self.last_result is None:
            self.status.setText(
                f"{tagged:,} photos are tagged: ready to learn."
                if tagged >= MIN_TAGGED_PHOTOS
                else f"Tag at least {MIN_TAGGED_PHOTOS} photos first (select them and press Ctrl+T);"
                f" {tagged} tagged so far."
            )
        self.versions.clear()
        self._version_rows = [0]
        base_item = QTreeWidgetItem(
            [f"Base model ({model_display_name(base)})", "", "", "", "✓" if active == 0 else ""]
        )
        self.versions.addTopLevelItem(base_item)
        for v in reversed(listed):
            after = v.metrics.get("after", {}) if isinstance(v.metrics, dict) else {}
            before = v.metrics.get("before", {}) if isinstance(v.metrics, dict) else {}
            how = f"{v.config.get('tune', '?')} · {v.config.get('loss', '?')}"
            if v.config.get("token_loss"):
                how += " · words"
            if v.mix < 1.0:
                how += f" · mix {v.mix:.2f}"
            recall = ""
            if after:
                recall = f"{before.get('recall_at_k', 0):.2f} → {after.get('recall_at_k', 0):.2f}"
            item = QTreeWidgetItem(
                [
                    f"Version {v.version}",
                    format_time(v.created_at),
                    how,
                    recall,
                    "✓" if v.version == active else "",
                ]
            )
            if after:
                item.setToolTip(3, _metrics_text(before, after))
            self.versions.addTopLevelItem(item)
            self._version_rows.append(v.version)
        self.active_version = active
        self._update_version_buttons()
        self.versions_loaded.emit()

    def version_numbers(self) -> list[int]:
        """The versions listed, in row order (0 = the base model)."""
        return list(self._version_rows)

    def select_version(self, version: int) -> None:
        row = self._version_rows.index(version)
        item = self.versions.topLevelItem(row)
        if item is not None:
            self.versions.setCurrentItem(item)

    def selected_version(self) -> int | None:
        item = self.versions.currentItem()
        if item is None:
            return None
        return self._version_rows[self.versions.indexOfTopLevelItem(item)]

    def _update_version_buttons(self) -> None:
        idle = not self.running and not self.read_only
        self.use_button.setEnabled(idle and self.selected_version() is not None)
        self.rollback_button.setEnabled(idle and len(self._version_rows) > 1)

    def use_selected(self) -> None:
        version = self.selected_version()
        if version is None or self.running:
            return
        library = self.library
        self._switching("Switching models…")
        self.runner.submit(lambda: use_version(library, version), self._switched, self._version_failed)

    def rollback(self) -> None:
        if self.running:
            return
        library = self.library
        self._switching("Rolling back…")
        self.runner.submit(lambda: roll_back(library), self._switched, self._version_failed)

    def _switching(self, text: str) -> None:
        self.use_button.setEnabled(False)
        self.rollback_button.setEnabled(False)
        self.outcome.setText(text)

    def _switched(self, activation: Activation) -> None:
        what = "the base model" if activation.version == 0 else f"version {activation.version}"
        extra = " Photos are being re-indexed for it." if activation.reembedding else ""
        self.outcome.setText(f"Searches now use {what}.{extra}")
        self.model_changed.emit(activation.reembedding)
        self.reload_versions()

    def _version_failed(self, error: Exception) -> None:
        self._update_version_buttons()
        self.outcome.setText(str(error))

    def reject(self) -> None:
        self.cancel()
        super().reject()
