"""Counts the window shows agree with what it lists: "All photos N" is the number of photos the
grid shows (files that cannot be read are said, not counted), a removed folder's photos leave the
album counts, and a new search model's effect on the albums is said, not silent."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from engine.categories import Categories
from tests.app.journeys import index_folders

TIMEOUT = 120_000


def _index(qtbot, window, *folders: Path) -> None:
    index_folders(qtbot, window, *folders)


def _two_folders_and_an_album_of_all(qtbot, window, photo_dir: Path, sample_photos: Path, tmp_path: Path):
    """photo_dir (5 photos) and a second folder of 2, indexed, and an album "Everything" holding
    all 7: (the second folder, the sidebar)."""
    other = tmp_path / "other"
    other.mkdir()
    for name in ("Olympus_C8080WZ.jpg", "Kodak_CX7530.jpg"):
        shutil.copyfile(sample_photos / "jpg" / name, other / name)
    _index(qtbot, window, photo_dir, other)
    Categories.for_library(window.state.library).add("Everything", ["a photo"], threshold=0.0)
    window.lists.refresh()
    sidebar = window.views.sidebar
    qtbot.waitUntil(lambda: sidebar.category_item("Everything") is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: sidebar.category_item("Everything").text(0).endswith("·  7"), timeout=TIMEOUT)
    return other, sidebar


def _all_photos(window) -> str:
    return window.views.sidebar.section("Folders").child(0).text(0)


def test_all_photos_counts_what_the_grid_shows_and_says_what_it_leaves_out(qtbot, window, photo_dir: Path):
    _index(qtbot, window, photo_dir)  # five photos and one broken file
    qtbot.waitUntil(lambda: window.views.results.rowCount() == 5 and not window.search.busy, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: _all_photos(window) == "All photos  ·  5", timeout=TIMEOUT)
    folders = window.views.sidebar.section("Folders")
    assert "1 file(s) that could not be read" in folders.child(0).toolTip(0)
    assert window.views.sidebar.folder_item(str(photo_dir)).text(0).endswith("·  5")


def test_a_removed_folder_leaves_the_album_counts(
    qtbot, window, photo_dir: Path, sample_photos: Path, tmp_path
):
    other, sidebar = _two_folders_and_an_album_of_all(qtbot, window, photo_dir, sample_photos, tmp_path)

    window.library_control.remove_folder_now(str(other))
    qtbot.waitUntil(lambda: sidebar.category_item("Everything").text(0).endswith("·  5"), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: _all_photos(window) == "All photos  ·  5", timeout=TIMEOUT)


def test_a_new_model_updates_the_album_counts_and_says_so(
    qtbot, window, photo_dir: Path, tiny_encoder, tiny_config: Path, tmp_path: Path
):
    from safetensors.torch import save_file

    _index(qtbot, window, photo_dir)
    categories = Categories.for_library(window.state.library)
    categories.add("Dogs", ["a dog"])
    scores = categories.membership("Dogs").scores
    categories.set_threshold("Dogs", float(scores[2] + scores[3]) / 2)  # three photos in
    window.lists.refresh()
    qtbot.waitUntil(lambda: window.views.sidebar.category_item("Dogs") is not None, timeout=TIMEOUT)
    qtbot.waitUntil(
        lambda: window.views.sidebar.category_item("Dogs").text(0).endswith("·  3"), timeout=TIMEOUT
    )

    # Another model of the same shape: the tiny model's weights, shaken.
    generator = torch.Generator().manual_seed(7)
    weights = {
        k: (v + 0.2 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v).contiguous()
        for k, v in tiny_encoder.model.state_dict().items()
    }
    checkpoint = tmp_path / "other-model.safetensors"
    save_file(weights, str(checkpoint))
    window.model_control.switch_model((str(tiny_config), str(checkpoint)))
    bar = window.views.status_bar
    qtbot.waitUntil(
        lambda: bar.currentMessage().startswith("Albums updated for the new model"), timeout=TIMEOUT
    )
    library = window.state.library
    assert library.model.pretrained == str(checkpoint)
    count = Categories.for_library(library).membership("Dogs").count
    qtbot.waitUntil(lambda: window.views.sidebar.category_item("Dogs").text(0).endswith(f"·  {count}"))
    message = bar.currentMessage()
    assert count != 3 and f"Dogs 3 → {count}" in message, message  # this seed's model moves the line


def test_a_new_model_says_what_it_did_to_the_albums_once_it_has_every_photo(qtbot, window, photo_dir: Path):
    """A model that takes over before the library is re-embedded with it (the old one could not be
    loaded) first counts the albums from the few photos it has: saying "Dogs 3 → 0" then would be
    wrong. The counts are said once every photo has the new model's vector."""
    _index(qtbot, window, photo_dir)
    lists, bar = window.lists, window.views.status_bar
    lists._done(([("Dogs", 3)], {}, "old-model", True, []))
    bar.clearMessage()  # the window's own count (of the real model) may have come in first
    lists._done(([("Dogs", 0)], {}, "new-model", False, []))  # re-embedding
    assert not bar.currentMessage().startswith("Albums updated")
    assert window.views.sidebar.category_item("Dogs").text(0).endswith("·  0")  # the sidebar shows what is
    lists._done(([("Dogs", 4)], {}, "new-model", True, []))
    assert bar.currentMessage() == "Albums updated for the new model: Dogs 3 → 4."


def test_a_folder_gone_for_now_leaves_the_album_counts_until_it_comes_back(
    qtbot, window, photo_dir: Path, sample_photos: Path, tmp_path
):
    other, sidebar = _two_folders_and_an_album_of_all(qtbot, window, photo_dir, sample_photos, tmp_path)

    away = other.with_name("unplugged")
    other.rename(away)  # noticed by the window's availability check, no rescan
    qtbot.waitUntil(lambda: sidebar.category_item("Everything").text(0).endswith("·  5"), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: _all_photos(window) == "All photos  ·  5", timeout=TIMEOUT)
    away.rename(other)
    qtbot.waitUntil(lambda: sidebar.category_item("Everything").text(0).endswith("·  7"), timeout=TIMEOUT)
