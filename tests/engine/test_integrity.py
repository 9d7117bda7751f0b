"""Nothing the user has is lost: unreadable folders, photos that come back, a failing watcher, a
read-only library, JPEGs cut short, and symlinked folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine import library as library_module
from engine import scanner
from engine.errors import ReadOnlyLibrary
from engine.library import Library
from engine.photos import MIN_DECODED_ROWS, open_image, thumbnail
from engine.search import Query
from engine.storage.check import problems
from engine.tags import add_tag, tags_of
from engine.watcher import Watcher
from tests.counting import CountingEncoder

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["Canon_40D.jpg", "Nikon_D70.jpg", "Pentax_K10D.jpg", "Sony_HDR-HC3.jpg", "Kodak_CX7530.jpg"]


def photo_tree(sample_photos: Path, root: Path) -> Path:
    """root/top.jpg and root/trip/{four photos}."""
    (root / "trip").mkdir(parents=True)
    shutil.copy(sample_photos / "jpg" / NAMES[0], root / "top.jpg")
    for name in NAMES[1:]:
        shutil.copy(sample_photos / "jpg" / name, root / "trip" / name)
    return root


def searchable(library: Library) -> set[str]:
    return {h.path for h in library.search(Query(text="x", k=1000))}


def consistent(library: Library) -> None:
    assert problems(library.store.db, library.model.key) == []
    assert library.vector_index.labels() == library.store.vectors.labels(library.model.key)


def test_an_unreadable_subfolder_keeps_its_photos(make_library, sample_photos, tmp_path, monkeypatch):
    folder = photo_tree(sample_photos, tmp_path / "photos")
    library = make_library()
    library.add_folders([folder])
    library.index()
    assert len(searchable(library)) == 5
    trip = str(folder / "trip")
    real_scandir = os.scandir

    def scandir(path):  # as for a dropped network share: the folder is there, listing it fails
        if os.fspath(path) == trip:
            raise PermissionError(13, "Permission denied", trip)
        return real_scandir(path)

    monkeypatch.setattr(scanner.os, "scandir", scandir)
    shutil.copy(sample_photos / "jpg" / "Olympus_C8080WZ.jpg", folder / "new.jpg")
    library.index()
    assert len(searchable(library)) == 6  # nothing forgotten, the new photo added
    status = library.status()
    assert status.folders[0].unavailable == (trip,)
    assert status.pending == 0
    monkeypatch.undo()
    (folder / "trip" / NAMES[1]).unlink()  # once readable again, real deletions count
    library.index()
    assert len(searchable(library)) == 5 and library.status().folders[0].unavailable == ()
    consistent(library)


def test_a_returning_folder_reembeds_nothing_and_keeps_its_tags(sample_photos, tmp_path, tiny_encoder):
    folder = photo_tree(sample_photos, tmp_path / "photos")
    counting = CountingEncoder(tiny_encoder)
    with Library(tmp_path / "lib", encoder=counting) as library:
        library.add_folders([folder])
        library.index()
        assert counting.embedded == 5
        add_tag(library.store, folder / "trip" / NAMES[1], "Rex")
        shutil.move(folder / "trip", tmp_path / "away")  # a drive unplugged, a folder moved out
        library.index()
        assert searchable(library) == {str(folder / "top.jpg")}  # gone photos leave search at once
        assert library.store.tags.records() != []  # but what was learnt about them is kept
        shutil.move(tmp_path / "away", folder / "trip")
        library.index()
        assert counting.embedded == 5  # nothing embedded again: recognised by content
        assert len(searchable(library)) == 5
        assert [t.text for t in tags_of(library.store, folder / "trip" / NAMES[1])] == ["Rex"]
        consistent(library)

        # After the grace period, or at once with `compact`, what stays gone is dropped.
        shutil.rmtree(folder / "trip")
        library.index()
        assert library.store.vectors.known_hashes(library.model.key).__len__() == 5
        assert library.compact() == 4
        assert library.store.tags.records() == []
        assert len(library.store.vectors.known_hashes(library.model.key)) == 1
        consistent(library)


def test_orphans_are_dropped_after_the_grace_period(make_library, sample_photos, tmp_path):
    folder = photo_tree(sample_photos, tmp_path / "photos")
    library = make_library()
    library.add_folders([folder])
    library.index()
    shutil.rmtree(folder / "trip")
    library.index()
    grace = library_module.ORPHAN_GRACE
    assert library.store.forget_orphans(grace, now=time.time() + grace / 2) == 0
    assert library.store.forget_orphans(grace, now=time.time() + grace + 1) == 4


def test_the_watcher_keeps_changes_through_failures(make_library, sample_photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(sample_photos / "jpg" / NAMES[0], folder / "a.jpg")
    library = make_library()
    library.add_folders([folder])
    library.index()
    applied = threading.Event()
    real_update, real_index = library.update_paths, library.index
    calls = {"update": 0, "index": 0}

    def failing_update(*args, **kwargs):  # as for a locked database or a full disk, three times
        calls["update"] += 1
        if calls["update"] <= 3:
            raise OSError(28, "No space left on device")
        return real_update(*args, **kwargs)

    def counting_index(*args, **kwargs):
        calls["index"] += 1
        result = real_index(*args, **kwargs)
        applied.set()
        return result

    library.update_paths = failing_update
    library.index = counting_index
    watcher = Watcher(library, debounce=0.05, max_backoff=0.2)
    watcher.start()
    try:
        watcher.note(changed=[str(folder / "b.jpg")])
        shutil.copy(sample_photos / "jpg" / NAMES[1], folder / "b.jpg")
        (folder / "a.jpg").unlink()
        watcher.note(deleted=[str(folder / "a.jpg")])
        # Three failures in a row: the next attempt is a full rescan, which applies everything.
        assert applied.wait(30)
    finally:
        watcher.stop()
    assert calls["update"] >= 3 and calls["index"] >= 1
    assert searchable(library) == {str(folder / "b.jpg")}
    assert watcher.failures == 0 and not watcher.rescan_needed
    consistent(library)


def test_a_failed_change_set_is_retried(make_library, sample_photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    library = make_library()
    library.add_folders([folder])
    real_update = library.update_paths
    failed = []

    def update_once_failing(changed, deleted, **kwargs):
        if not failed:
            failed.append(set(changed))
            raise OSError(5, "Input/output error")
        return real_update(changed, deleted, **kwargs)

    library.update_paths = update_once_failing
    watcher = Watcher(library, debounce=0.05, max_backoff=0.2)
    watcher.start()
    try:
        shutil.copy(sample_photos / "jpg" / NAMES[1], folder / "b.jpg")
        watcher.note(changed=[str(folder / "b.jpg")])
        deadline = time.monotonic() + 30
        while searchable(library) != {str(folder / "b.jpg")} and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        watcher.stop()
    assert len(failed) == 1 and str(folder / "b.jpg") in failed[0]  # the failed set, applied later
    assert searchable(library) == {str(folder / "b.jpg")}


def _read_only_library(tiny_encoder, sample_photos, root: Path) -> tuple[Path, Path]:
    """A library of five photos, one tagged, in root/ro (photos in root/photos)."""
    folder = photo_tree(sample_photos, root / "photos")
    with Library(root / "ro", encoder=tiny_encoder) as library:
        library.add_folders([folder])
        library.index()
        add_tag(library.store, folder / "top.jpg", "Rex")
    return root / "ro", folder


def test_a_read_only_library_searches_and_refuses_writes(sample_photos, tmp_path, monkeypatch, tiny_encoder):
    path, folder = _read_only_library(tiny_encoder, sample_photos, tmp_path)
    (path / "vectors.hnsw").unlink()  # the index cannot be saved either: rebuilt in memory
    # Root writes anywhere, so the folder's refusal is injected where the library asks.
    monkeypatch.setattr(library_module, "_writable", lambda folder: False)
    with Library(path, encoder=tiny_encoder) as library:
        assert library.read_only
        assert len(searchable(library)) == 5
        assert [t.text for t in tags_of(library.store, folder / "top.jpg")] == ["Rex"]
        assert len(library.photos()) == 5
        for write in (
            library.index,
            lambda: library.add_folders([folder / "trip"]),
            lambda: add_tag(library.store, folder / "top.jpg", "Max"),
            library.compact,
        ):
            with pytest.raises(ReadOnlyLibrary) as error:
                write()
            message = str(error.value)
            assert "read-only" in message and "\n" not in message and str(path) in message


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="needs POSIX users")
def test_a_read_only_folder_is_detected(tiny_encoder, sample_photos):
    """The real thing: a library folder its user cannot write to, searched and indexed from the CLI.
    Root writes anywhere, so as root the commands run as the user nobody."""
    user = {"user": 65534, "group": 65534} if os.geteuid() == 0 else {}
    python = Path(os.path.realpath(sys.executable))
    needed = [ROOT, *ROOT.parents, *python.parents]
    if user and any(not (p.stat().st_mode & 0o001) for p in needed):
        pytest.skip("the repository or Python cannot be reached by another user here")
    base = Path(tempfile.mkdtemp(prefix="viewfinder-ro-"))  # not under pytest's private folder
    try:
        base.chmod(0o755)
        path, _ = _read_only_library(tiny_encoder, sample_photos, base)
        for p in [*base.rglob("*"), base]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HOME": str(base)}
        tiny = str(ROOT / "tests" / "assets" / "tiny-clip.json")
        cli = [sys.executable, "-m", "app.cli"]

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*cli, *args, "--library", str(path)],
                capture_output=True, text=True, env=env, timeout=300, cwd=ROOT, **user,
            )

        found = run("search", "x", "--json", "-k", "50")
        assert found.returncode == 0, found.stderr
        assert len(json.loads(found.stdout)) == 5
        refused = run("index", str(base / "photos"), "--model", tiny)
        assert refused.returncode == 1
        errors = [line for line in refused.stderr.splitlines() if not line.startswith("WARNING")]
        assert len(errors) == 1 and "read-only" in errors[0] and "Traceback" not in refused.stderr
    finally:
        for p in [base, *base.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(base, ignore_errors=True)


def test_a_jpeg_cut_short_is_indexed_as_partly_damaged(make_library, sample_photos, tmp_path):
    data = (sample_photos / "jpg" / "exif-org" / "nikon-e950.jpg").read_bytes()
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "tail.jpg").write_bytes(data[:-15])  # the last 15 bytes lost
    (folder / "half.jpg").write_bytes(data[: len(data) // 2])
    image, meta = open_image(folder / "tail.jpg", min_size=(64, 64))
    whole, _ = open_image(data, min_size=(64, 64))
    assert MIN_DECODED_ROWS <= meta.decoded < 1.0 and meta.damage and "partly damaged" in meta.damage
    assert image.size == whole.size
    rows = int(image.height * meta.decoded) - 2  # the rows read are the real picture
    assert np.abs(np.asarray(image)[:rows].astype(int) - np.asarray(whole)[:rows]).mean() < 2
    assert thumbnail(folder / "tail.jpg", 64).size == thumbnail(data, 64).size
    library = make_library()
    library.add_folders([folder])
    library.index()
    status = library.status()
    assert searchable(library) == {str(folder / "tail.jpg")}
    assert [f.path for f in status.damaged] == [str(folder / "tail.jpg")]
    assert [f.path for f in status.failures] == [str(folder / "half.jpg")]
    assert "only 60%" in status.failures[0].reason


def test_symlinked_folders_are_followed_once(make_library, sample_photos, tmp_path):
    drive = photo_tree(sample_photos, tmp_path / "drive")  # an external drive
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    shutil.copy(sample_photos / "jpg" / "Olympus_C8080WZ.jpg", pictures / "own.jpg")
    (pictures / "drive").symlink_to(drive, target_is_directory=True)
    (pictures / "drive again").symlink_to(drive, target_is_directory=True)  # linked twice
    (drive / "trip" / "loop").symlink_to(drive, target_is_directory=True)  # a loop
    (pictures / "self").symlink_to(pictures, target_is_directory=True)
    library = make_library()
    library.add_folders([pictures])
    result = library.index()  # ends: loops are not followed
    found = searchable(library)
    assert result.done == 6 and len(found) == 6
    assert str(pictures / "own.jpg") in found
    via = {Path(p).relative_to(pictures).parts[0] for p in found if not p.endswith("own.jpg")}
    assert len(via) == 1 and via <= {"drive", "drive again"}  # under the path the user sees
    link = str(pictures / via.pop())
    in_link = library.search(Query(text="x", folder=link, k=100))  # --folder takes the link's path
    assert len(in_link) == 5
    # A link to a library folder adds nothing twice.
    assert library.add_folders([pictures / "self", pictures / "drive" / "trip"]) == []
    assert library.index().done == 0
    consistent(library)
