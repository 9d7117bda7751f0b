"""The training dialog: too few tags says so in the dialog; a short run on a few tagged photos shows
progress, a loss curve, before/after metrics and the new version in the Models list; Use and Roll
back switch models. Runs inline (InlinePool) so every step is deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QRect

from app.gui.training import LossPlot, TrainingDialog
from app.gui.workers import InlinePool, Runner
from engine.tags import add_tag
from trainer import versions

COLOURS = {"red": (220, 30, 30), "blue": (40, 60, 220)}


def _photos(folder: Path, per_colour: int) -> dict[str, list[str]]:
    """Small noisy pictures with a coloured square, `per_colour` of each colour."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out: dict[str, list[str]] = {c: [] for c in COLOURS}
    for i in range(per_colour):
        for colour, rgb in COLOURS.items():
            pixels = rng.integers(90, 170, size=(48, 48, 3)).astype(np.uint8)
            x, y = rng.integers(0, 24, size=2)
            pixels[y : y + 20, x : x + 20] = rgb
            path = folder / f"{colour}{i:02d}.png"
            Image.fromarray(pixels).save(path)
            out[colour].append(str(path))
    return out


@pytest.fixture
def tagged_library(make_library, tmp_path: Path):
    def build(per_colour: int, tagged: int):
        photos = _photos(tmp_path / "photos", per_colour)
        library = make_library()
        library.add_folders([tmp_path / "photos"])
        library.index()
        for colour, paths in photos.items():
            for path in paths[:tagged]:
                add_tag(library.store, path, colour)
        return library

    return build


def _dialog(qtbot, library) -> TrainingDialog:
    dialog = TrainingDialog(Runner(InlinePool()), library)
    qtbot.addWidget(dialog)
    return dialog


def test_too_few_tags_shows_the_message_in_the_dialog(qtbot, tagged_library):
    library = tagged_library(per_colour=3, tagged=1)
    dialog = _dialog(qtbot, library)
    assert dialog.status.text().startswith("Tag at least 3 photos") and "2 tagged so far" in dialog.status.text()
    assert not dialog.rollback_button.isEnabled()  # only the base model: nothing to go back to
    assert not dialog.details.isVisibleTo(dialog)  # the technical options wait behind Details
    failures = []
    dialog.failed.connect(failures.append)
    dialog.start()
    assert len(failures) == 1
    assert dialog.error.isVisibleTo(dialog)
    assert "Tag at least 3 photos" in dialog.error.text() and "2 tagged so far" in dialog.error.text()
    assert "viewfinder" not in dialog.error.text()  # GUI words, not a command line
    assert dialog.start_button.isEnabled() and not dialog.running
    assert dialog.version_numbers() == [0]  # only the base model
    assert versions.list_versions(library) == []


def test_short_training_shows_curve_metrics_and_the_new_version(qtbot, tagged_library):
    library = tagged_library(per_colour=7, tagged=5)
    dialog = _dialog(qtbot, library)
    dialog.epochs.setValue(3)
    assert (
        dialog.config().epochs == 3 and dialog.config().loss == "sigmoid" and dialog.config().tune == "names"
    )
    assert dialog.status.text() == "10 photos are tagged: ready to learn."
    seen_steps = []
    start_enabled = []
    dialog._bridge.progress.connect(lambda p: seen_steps.append(p.step) if p.phase == "training" else None)
    dialog._bridge.progress.connect(lambda p: start_enabled.append(dialog.start_button.isEnabled()))
    results = []
    dialog.finished_training.connect(results.append)
    dialog.start()

    assert results, dialog.error.text()
    (result,) = results
    assert not result.cancelled and result.version == 1
    assert seen_steps == list(range(1, result.steps + 1)) and result.steps >= 2
    assert len(dialog.plot.points) == result.steps > 1
    assert dialog.plot.points == pytest.approx(list(result.losses))
    # The held-out checks' fits, then the model's: one line each, as the steps came in.
    assert len(result.fit_starts) == dialog.config().folds + 1 and result.fit_starts[0] == 0
    assert list(result.fit_starts) == sorted(set(result.fit_starts))
    assert dialog.plot.starts == list(result.fit_starts)
    assert [len(line) for line in dialog.plot.polylines()] == [
        b - a for a, b in zip(result.fit_starts, [*result.fit_starts[1:], result.steps], strict=True)
    ]
    assert dialog.plot.caption().startswith("3 checks on held-out photos")
    assert "recall@" in dialog.metrics.text()
    assert f"{result.before.recall_at_k:.2f} → {result.after.recall_at_k:.2f}" in dialog.metrics.text()
    # The tiny model is at random init: no everyday queries to keep, and the dialog says so.
    assert "everyday queries not checked (the base model is at random init)" in dialog.metrics.text()
    assert start_enabled and not any(start_enabled)  # no second run while one trains
    assert ("is now switched on" in dialog.outcome.text()) == result.activated
    assert not result.activated or result.search_note() in dialog.outcome.text()
    assert result.verdict is not None and result.verdict.reason in dialog.metrics.text() + dialog.outcome.text()
    # Crops are cut only where the window cache is trusted, which a model at random init is not.
    assert ("Close-ups:" in dialog.metrics.text()) == (result.close_ups is not None)
    assert dialog.rollback_button.isEnabled()
    assert dialog.version_numbers() == [0, 1]
    assert dialog.active_version == versions.active_version(library)

    # "Use" the base model, then "Roll back" to what was in use before.
    before = versions.active_version(library)
    switched = []
    dialog.model_changed.connect(switched.append)
    dialog.select_version(0)
    dialog.use_selected()
    assert versions.active_version(library) == 0 and dialog.active_version == 0
    dialog.select_version(1)
    dialog.use_selected()
    assert versions.active_version(library) == 1
    dialog.rollback()
    assert versions.active_version(library) == 0
    assert switched == [False, False, False]  # text-side versions never re-embed
    assert before in (0, 1)


def test_loss_plot_spans_its_area(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(300, 150)
    plot.set_points([2.0, 1.5, 1.0, 1.2])
    (line,) = plot.polylines()
    xs, ys = [p.x() for p in line], [p.y() for p in line]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert ys[2] == max(ys) and ys[0] == min(ys)  # lowest loss drawn lowest (largest y)
    assert plot.caption() == "step 1 … 4"
    plot.grab()  # paints without error
    # Two fits, as they come in: a line each, on one step axis, the second starting high again.
    plot.set_points([])
    for fit, value in ((0, 2.0), (0, 1.0), (1, 2.0), (1, 0.5)):
        plot.add(value, fit)
    first, second = plot.polylines()
    assert len(first) == len(second) == 2 and first[1].x() < second[0].x()
    assert second[0].y() < first[1].y()  # drawn higher than where the first fit ended
    assert plot.caption().startswith("1 check on held-out photos")
    plot.grab()


def test_the_details_fit_a_low_screen_and_scroll_rather_than_overlap(qtbot, tagged_library):
    """On a screen lower than the details (here 420 pixels free) the dialog stays on the screen and
    the list of models keeps its buttons below it (squeezed, they were drawn over its rows)."""
    dialog = _dialog(qtbot, tagged_library(per_colour=3, tagged=3))
    dialog.show()
    dialog.details_button.setChecked(True)  # fitted to the real (offscreen) screen
    assert dialog.screen().availableGeometry().contains(dialog.frameGeometry())
    low = QRect(0, 0, 1366, 420)
    assert low.height() < dialog.details.widget().minimumSizeHint().height()
    dialog.move(100, 300)
    dialog.fit_within(low)
    assert low.contains(dialog.frameGeometry())
    tree, use, inside = dialog.versions, dialog.use_button, dialog.details.widget()
    assert tree.mapTo(inside, tree.rect().bottomLeft()).y() < use.mapTo(inside, use.rect().topLeft()).y()
    assert tree.height() >= tree.minimumHeight()
    assert dialog.details.verticalScrollBar().maximum() > 0  # the rest is a scroll away
    dialog.details_button.setChecked(False)  # and it shrinks back
    assert dialog.height() < low.height()


def test_the_close_up_check_is_told_in_the_details():
    from app.gui.training import _close_ups_text
    from trainer.train import CloseUps, Verdict

    close_ups = CloseUps(0.214, 0.273, Verdict("activated", 0.059, 0.009, 3, "clearly better on held-out photos"))
    assert _close_ups_text(close_ups) == (
        "\nClose-ups: search's held-out AP 0.21 → 0.27: clearly better on held-out photos"
        " (gain +0.059 ± 0.009, 3 measurements)."
    )
