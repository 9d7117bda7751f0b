"""Categories in the window: a category made in the dialog is listed with its count, shows its
members best first, answers queries among them, and its threshold slider previews exactly what the
engine's Membership counts."""

from __future__ import annotations

from pathlib import Path

from app.gui.sidebar import SCOPE_CATEGORY, Scope
from engine.categories import Categories
from engine.search import Query
from tests.app.journeys import index_folders

INDEX_TIMEOUT = 120_000


def _index(qtbot, window, folder: Path) -> None:
    index_folders(qtbot, window, folder)


def _new_category(qtbot, window, name: str, prompts: str):
    dialog = window.lists.new_category()
    dialog.name.setText(name)
    with qtbot.waitSignal(dialog.preview_ready, timeout=30_000):
        dialog.prompts.setPlainText(prompts)
        dialog.refresh_preview()
    return dialog


def test_category_made_in_the_dialog_is_listed_and_shows_its_members(qtbot, window, photo_dir: Path):
    _index(qtbot, window, photo_dir)
    dialog = _new_category(qtbot, window, "Dogs", "a dog\nmy dog")
    # A threshold between the 3rd and 4th best scores: three photos in, whatever the random model says.
    scores = dialog.membership.scores
    dialog.set_threshold(float(scores[2] + scores[3]) / 2)
    assert dialog.preview_count() == 3
    dialog.save()
    qtbot.waitUntil(lambda: "Dogs" in window.views.sidebar.category_names(), timeout=30_000)

    engine = Categories.for_library(window.state.library)
    members = [m.path for m in engine.members("Dogs")]
    assert len(members) == 3
    assert window.views.sidebar.category_item("Dogs").text(0).endswith("3")
    # Saving selects the new category: the grid shows its members, best first.
    qtbot.waitUntil(
        lambda: window.views.sidebar.current_scope() == Scope(SCOPE_CATEGORY, "Dogs"), timeout=10_000
    )
    qtbot.waitUntil(
        lambda: window.views.results.paths() == members and not window.search.busy, timeout=30_000
    )
    assert "Dogs" in window.views.search_bar.scope.text()

    # A query while the category is selected searches within it.
    with qtbot.waitSignal(window.search.results_updated, timeout=30_000):
        window.search.search_text("a sunny day")
    qtbot.waitUntil(lambda: not window.search.busy)
    expected = [h.path for h in engine.search(Query(text="a sunny day", k=1000), "Dogs")]
    assert window.views.results.paths() == expected and set(expected) == set(members)

    # Removing it drops it from the sidebar and goes back to all photos.
    window.lists.remove_category_now("Dogs")
    qtbot.waitUntil(lambda: "Dogs" not in window.views.sidebar.category_names(), timeout=30_000)
    assert window.views.sidebar.current_scope().kind == "folder"


def test_threshold_slider_preview_is_monotone_and_matches_membership(qtbot, window, photo_dir: Path):
    _index(qtbot, window, photo_dir)
    dialog = _new_category(qtbot, window, "Beach", "a beach with the sea")
    steps = range(0, dialog.slider.maximum() + 1, 25)
    seen = []
    for step in steps:
        dialog.slider.setValue(step)
        seen.append((dialog.threshold(), dialog.preview_count()))
        assert dialog.count_label.text().startswith(f"{seen[-1][1]:,} of 5")
    counts = [c for _, c in seen]
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))  # stricter: fewer photos
    assert counts[0] == 5 and counts[-1] == 0
    assert len(set(counts)) > 2  # the slider actually moves through the scores

    # The same thresholds, through the engine's own Membership of the saved category.
    dialog.save()
    qtbot.waitUntil(lambda: "Beach" in window.views.sidebar.category_names(), timeout=30_000)
    membership = Categories.for_library(window.state.library).membership("Beach")
    assert membership.threshold == seen[-1][0]  # the slider's last value was stored
    assert [membership.count_at(t) for t, _ in seen] == counts


def test_edit_dialog_opens_on_the_stored_category(qtbot, window, photo_dir: Path):
    _index(qtbot, window, photo_dir)
    Categories.for_library(window.state.library).add("Cars", ["a red car"], ["a bicycle"])
    window.lists.edit_category("Cars")
    qtbot.waitUntil(lambda: window.lists.category_dialog is not None, timeout=10_000)
    dialog = window.lists.category_dialog
    assert dialog.name.text() == "Cars"
    assert dialog.prompts.toPlainText() == "a red car" and dialog.negatives.toPlainText() == "a bicycle"
    qtbot.waitUntil(lambda: dialog.membership is not None, timeout=30_000)
    dialog.prompts.setPlainText("a red car\na blue car")
    dialog.save()
    qtbot.waitUntil(
        lambda: (
            Categories.for_library(window.state.library).get("Cars").prompts == ("a red car", "a blue car")
        ),
        timeout=10_000,
    )


def test_preview_shows_the_photos_at_the_line_and_the_slider_moves_them(qtbot, window, photo_dir: Path):
    _index(qtbot, window, photo_dir)
    dialog = _new_category(qtbot, window, "Dogs", "a dog")
    membership = dialog.membership
    store, model = window.state.library.store, window.state.library.model.key
    rows = store.photos.for_labels([int(x) for x in membership.labels], model)
    ranked = [rows[int(label)][0].path for label in membership.labels]  # every photo, best first
    assert len(ranked) == 5
    scores = membership.scores

    def line_at(i: int) -> None:
        """Put the line between the i-th and (i+1)-th best photos, as a slider move does."""
        with qtbot.waitSignal(dialog.photos_ready, timeout=30_000):
            dialog.set_threshold(float(scores[i - 1] + scores[i]) / 2)

    line_at(3)
    assert dialog.inside.paths() == ranked[:3] and dialog.outside.paths() == ranked[3:]
    assert dialog.photos_box.isVisible()
    line_at(2)  # stricter: the third photo drops below the line, first in the "out" row
    assert dialog.inside.paths() == ranked[:2] and dialog.outside.paths() == ranked[2:]
    assert dialog.count_label.text().startswith("2 of 5")

    # A real slider move does the same (its thumbnails load through the window's loader).
    with qtbot.waitSignal(dialog.photos_ready, timeout=30_000):
        dialog.slider.setValue(0)
    assert dialog.inside.paths() == ranked and dialog.outside.paths() == []
    qtbot.waitUntil(lambda: not dialog.inside.item(0).icon().isNull(), timeout=30_000)
