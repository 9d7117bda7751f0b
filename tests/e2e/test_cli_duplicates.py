"""Duplicates of a real library: `Library.duplicates`, `viewfinder duplicates`, RAW+JPEG pairs.

A folder of generated photos holds, per base picture, the original, a byte-identical copy in
another folder, a half-size copy, a JPEG-30 copy and a 5% crop, plus a distinct photo of the same
place; and one RAW+JPEG pair of a shot. The tiny model's vectors are random-weight vectors, so
what separates copies here is the perceptual hash (docs/duplicates.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from engine.duplicates import DuplicateSettings
from engine.search import Query
from tests.photo_variants import make_bases, make_copies, make_neighbour
from tests.rawfiles import write_dng

BASES = 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("duplicates") / "photos"
    (root / "backup").mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i, base in enumerate(make_bases(BASES + 1, seed=7)):
        if i == BASES:  # a RAW+JPEG pair of one shot: one photo, never a duplicate group
            base.image.save(root / "IMG_0099.JPG", quality=95)
            write_dng(root / "IMG_0099.dng", np.asarray(base.image)[:, :480], preview=True)
            continue
        base.image.save(root / f"base{i}.jpg", quality=95)
        shutil.copyfile(root / f"base{i}.jpg", root / "backup" / f"base{i}.jpg")
        copies = make_copies(base, rng)
        for kind in ("resized", "jpeg30", "crop5"):
            copies[kind].save(root / f"base{i} {kind} copy.jpg", quality=30 if kind == "jpeg30" else 90)
        make_neighbour(base, rng).save(root / f"place{i}.jpg", quality=95)
    return root


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p): (hashlib.sha1(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def library_dir(folder, tmp_path_factory, tiny_config) -> Path:
    library = tmp_path_factory.mktemp("duplicates_library") / "library"
    assert main(["index", str(folder), "--library", str(library), "--model", str(tiny_config)]) == 0
    return library


def families(folder: Path) -> list[set[str]]:
    out = []
    for i in range(BASES):
        names = [f"base{i}.jpg", *(f"base{i} {k} copy.jpg" for k in ("resized", "jpeg30", "crop5"))]
        out.append({str(folder / n) for n in names} | {str(folder / "backup" / f"base{i}.jpg")})
    return out


def assert_groups_are_families(groups: list[set[str]], folder: Path) -> None:
    """One group per family and nothing else in it. A 5% crop is the hardest copy: at the default
    threshold about one in a hundred falls out (docs/duplicates.md), so most, not all, must be in."""
    expected = families(folder)
    assert len(groups) == len(expected)
    for group, family in zip(sorted(groups, key=min), sorted(expected, key=min), strict=True):
        assert group <= family and len(family - group) <= 1
        assert all("crop5" in path for path in family - group)
    assert sum(len(g) for g in groups) >= sum(len(f) for f in expected) - 1


def test_groups_are_the_copies_best_first_and_nothing_changes(folder, library_dir, tiny_encoder):
    from engine.library import Library

    before = snapshot(folder)
    with Library(library_dir, encoder=tiny_encoder) as library:
        groups = library.duplicates()
        assert_groups_are_families([{c.photo.path for c in g.copies} for g in groups], folder)
        for group in groups:
            best = group.best.photo
            assert group.best.best and not any(c.best for c in group.copies[1:])
            # The original and its byte-identical backup tie on pixels and size; the older wins.
            assert os.path.basename(best.path).startswith("base") and "copy" not in best.path
            exact = [c for c in group.copies if c.exact]
            assert len(exact) == 2 and {os.path.basename(c.photo.path) for c in exact} == {
                os.path.basename(best.path)
            }
        assert not any("place" in c.photo.path or "IMG_0099" in c.photo.path for g in groups for c in g.copies)
        identical = library.duplicates(DuplicateSettings(threshold=1.0))
        assert all(len(g.copies) >= 2 for g in identical)
        assert len([c for g in identical for c in g.copies]) < len([c for g in groups for c in g.copies])
    assert snapshot(folder) == before  # never modifies, moves or deletes a photo


def test_a_raw_and_its_jpeg_are_one_search_result(folder, library_dir, tiny_encoder):
    from engine.library import Library

    with Library(library_dir, encoder=tiny_encoder) as library:
        hits = library.search(Query(image=str(folder / "IMG_0099.JPG"), k=10))
    paths = [h.path for h in hits]
    assert paths.count(str(folder / "IMG_0099.JPG")) == 1
    assert str(folder / "IMG_0099.dng") not in paths
    shot = next(h for h in hits if h.path == str(folder / "IMG_0099.JPG"))
    assert shot.companions == (str(folder / "IMG_0099.dng"),)
    with Library(library_dir, encoder=tiny_encoder) as library:
        browsed = [p.path for p in library.photos()]
        assert library.status().failed == 0  # the RAW itself was read fine
    assert str(folder / "IMG_0099.JPG") in browsed and str(folder / "IMG_0099.dng") not in browsed


def test_cli_lists_groups_as_json_and_text(folder, library_dir, capsys):
    assert main(["duplicates", "--json", "--library", str(library_dir)]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert_groups_are_families([{c["path"] for c in g} for g in groups], folder)
    assert all(g[0]["best"] and not any(c["best"] for c in g[1:]) for g in groups)
    assert all({"path", "size", "width", "height", "folder", "exact"} <= set(c) for g in groups for c in g)

    assert main(["duplicates", "--library", str(library_dir), "--threshold", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "Group 1" in out and "nothing was changed" in out

    assert main(["duplicates", "--library", str(library_dir), "--threshold", "1.5"]) != 0
    assert "between 0 and 1" in capsys.readouterr().err
