"""The Duplicates window: groups side by side, best copy marked, threshold, open and reveal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from app.gui.controllers import duplicates as duplicates_control
from tests.photo_variants import make_bases, make_copies

INDEX_TIMEOUT = 120_000


def test_duplicates_window_shows_groups_and_opens_files(qtbot, window, tmp_path: Path, monkeypatch):
    folder = tmp_path / "dups"
    (folder / "old").mkdir(parents=True)
    rng = np.random.default_rng(4)
    for i, base in enumerate(make_bases(3, seed=4)):
        base.image.save(folder / f"shot{i}.jpg", quality=95)
        if i < 2:
            shutil.copyfile(folder / f"shot{i}.jpg", folder / "old" / f"shot{i}.jpg")
            make_copies(base, rng)["resized"].save(folder / f"shot{i} small.jpg", quality=90)
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT):
        window.library_control.add_folders([str(folder)])
    qtbot.waitUntil(lambda: window.state.status is not None and window.state.status.photos == 7, timeout=10_000)

    with qtbot.waitSignal(window.duplicates.groups_found, timeout=60_000) as found:
        window.duplicates.open()
    groups = found.args[0]
    dialog = window.duplicates.dialog
    assert dialog is not None and dialog.isVisible()
    assert len(groups) == 2 and all(len(g.copies) == 3 for g in groups)
    assert len(dialog.cards) == 6
    best = [c for c in dialog.cards if c.copy.best]
    assert len(best) == 2 and all("Best copy" in c.facts.text() for c in best)
    assert all(" small" not in c.copy.photo.path for c in best)  # the half-size copy never wins
    assert "2 groups, 4 extra copies" in dialog.summary.text()

    opened, revealed = [], []
    monkeypatch.setattr(duplicates_control.desktop, "open_with_default_app", lambda p: opened.append(p) or True)
    monkeypatch.setattr(duplicates_control.desktop, "show_in_folder", lambda p: revealed.append(p) or True)
    dialog.cards[1].open_button.click()
    dialog.cards[1].reveal_button.click()
    assert opened == [dialog.cards[1].copy.photo.path] and revealed == [dialog.cards[1].copy.photo.path]

    with qtbot.waitSignal(window.duplicates.groups_found, timeout=60_000) as found:
        dialog.threshold.setValue(1.0)
        dialog.find_button.click()
    strict = found.args[0]
    assert all(c.similarity == 1.0 for g in strict for c in g.copies)  # identical pictures only
    assert sum(c.exact for g in strict for c in g.copies) == 4  # the byte-identical pairs stay
    assert len(dialog.cards) == sum(len(g.copies) for g in strict)
    qtbot.waitUntil(lambda: all(c.image.pixmap() is not None and not c.image.pixmap().isNull() for c in dialog.cards))
