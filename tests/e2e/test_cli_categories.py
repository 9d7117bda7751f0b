"""`viewfinder category` and `viewfinder heatmap` as a user runs them, on real photos and the tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, sample_photos, tiny_config) -> tuple[Path, Path]:
    """(library, photos): copies of two sample folders indexed once with the tiny model."""
    root = tmp_path_factory.mktemp("cli_categories")
    photos = root / "photos"
    for sub in ("orientation", "gps"):
        shutil.copytree(sample_photos / "jpg" / sub, photos / sub)
    library = root / "library"
    assert main(["index", str(photos), "--library", str(library), "--model", str(tiny_config)]) == 0
    return library, photos


@pytest.fixture
def run(indexed, capsys):
    library, _ = indexed

    def run_(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--library", str(library)])
        out, err = capsys.readouterr()
        return code, out, err

    return run_


def test_category_add_list_show_remove(run, indexed):
    _, photos = indexed
    code, out, err = run(
        "category", "add", "dogs", "--prompt", "a dog", "--prompt", "a puppy", "--not", "a cat"
    )
    assert code == 0, err
    assert "dogs" in out
    code, _, err = run("category", "add", "sky", "--threshold", "-1")
    assert code == 0, err
    code, out, _ = run("category", "list", "--json")
    listed = {c["name"]: c for c in json.loads(out)}
    assert set(listed) == {"dogs", "sky"}
    assert listed["dogs"]["prompts"] == ["a dog", "a puppy"] and listed["dogs"]["negatives"] == ["a cat"]
    assert listed["sky"]["prompts"] == ["sky"]  # the name is the description
    total = len(list(photos.rglob("*.jpg")))
    assert listed["sky"]["count"] == total  # threshold -1: every photo beats it
    assert isinstance(listed["dogs"]["count"], int) and 0 <= listed["dogs"]["count"] <= total

    code, out, _ = run("category", "show", "sky", "--json")
    members = json.loads(out)
    assert code == 0 and len(members) == total
    assert all({"path", "score"} <= set(m) and Path(m["path"]).is_file() for m in members)
    assert [m["score"] for m in members] == sorted((m["score"] for m in members), reverse=True)
    code, out, _ = run("category", "show", "sky", "--json", "-k", "3")
    assert json.loads(out) == members[:3]
    code, out, _ = run("category", "show", "sky", "-k", "2")
    assert code == 0 and len(out.strip().splitlines()) == 2
    code, out, _ = run("category", "list")
    assert code == 0 and "sky:" in out

    code, _, _ = run("category", "remove", "dogs")
    assert code == 0
    code, out, _ = run("category", "list", "--json")
    assert [c["name"] for c in json.loads(out)] == ["sky"]
    run("category", "remove", "sky")


@pytest.mark.parametrize(
    "args, message",
    [
        (["category", "show", "nothing"], "No category named 'nothing'"),
        (["category", "remove", "nothing"], "No category named 'nothing'"),
        (["category", "show", "x", "-k", "0"], "-k must be at least 1"),
        (["heatmap", "/no/such/photo.jpg", "a dog"], "no such file"),
        (["heatmap", "PHOTO", "a dog", "--out", "x.jpg"], "must name a .png"),
    ],
)
def test_errors_are_one_line(run, indexed, args, message):
    _, photos = indexed
    args = [str(photos / "gps" / "DSCN0010.jpg") if a == "PHOTO" else a for a in args]
    code, out, err = run(*args)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_duplicate_category_is_refused(run):
    assert run("category", "add", "beach")[0] == 0
    code, _, err = run("category", "add", "beach", "--prompt", "sand")
    assert code == 1 and "already exists" in err and len(err.strip().splitlines()) == 1
    run("category", "remove", "beach")


def test_unreadable_photo_is_one_line(run, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    code, _, err = run("heatmap", str(broken), "a dog")
    assert code == 1 and "broken.jpg" in err and "Traceback" not in err


def test_heatmap_json_and_png(run, sample_photos, tmp_path):
    photo = sample_photos / "jpg" / "orientation" / "landscape_6.jpg"
    with Image.open(photo) as im:
        stored = im.size
    code, out, err = run("heatmap", str(photo), "a brown dog on the grass", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["words"] == ["brown", "dog", "grass"]
    rows, cols = data["grid"]
    assert (rows, cols) == (8, 8)
    assert set(data["maps"]) == set(data["words"])
    for grid in [*data["maps"].values(), data["text_map"]]:
        assert len(grid) == rows and all(len(row) == cols for row in grid)
    # Orientation 6 is rotated a quarter turn: the upright size is the stored one swapped.
    assert data["image_size"] == [stored[1], stored[0]]

    out_png = tmp_path / "overlay.png"
    code, _, err = run("heatmap", str(photo), "a brown dog", "--out", str(out_png))
    assert code == 0, err
    with Image.open(out_png) as im:
        assert im.format == "PNG" and im.size == (stored[1], stored[0])
    code, out, _ = run("heatmap", str(photo), "a brown dog")
    assert code == 0 and "dog: strongest at row" in out
