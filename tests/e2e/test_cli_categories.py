"""`viewfinder category ...` and `viewfinder heatmap ...` as a user runs them, on real photos."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from app.cli import main


@pytest.fixture
def cli(tmp_path, capsys, shared_photos, tiny_config):
    """A library of sample photos indexed with the tiny model; returns run(*args) -> (code, out, err)."""
    library = tmp_path / "library"
    photos = tmp_path / "photos"
    shutil.copytree(shared_photos / "jpg" / "gps", photos)
    shutil.copytree(shared_photos / "jpg" / "orientation", photos / "orientation")

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--library", str(library)])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("index", str(photos), "--model", str(tiny_config))[0] == 0
    run.photos = photos  # type: ignore[attr-defined]
    return run


def test_category_add_list_show_remove(cli):
    assert cli("category", "add", "dogs", "--prompt", "a dog", "--prompt", "a puppy", "--not", "a cat")[0] == 0
    assert cli("category", "add", "everything", "--threshold", "-1")[0] == 0
    code, out, _ = cli("category", "list", "--json")
    listed = {c["name"]: c for c in json.loads(out)}
    assert code == 0 and set(listed) == {"dogs", "everything"}
    photos = len(list(cli.photos.rglob("*.jpg")))
    assert listed["everything"]["count"] == photos  # a threshold below every score takes all
    assert 0 <= listed["dogs"]["count"] <= photos
    code, out, _ = cli("category", "show", "everything", "--json", "-k", "5")
    shown = json.loads(out)
    assert code == 0 and len(shown) == 5
    assert [m["score"] for m in shown] == sorted((m["score"] for m in shown), reverse=True)
    assert all(m["path"].startswith(str(cli.photos)) for m in shown)
    code, _, err = cli("category", "add", "dogs")
    assert code == 1 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert cli("category", "remove", "dogs")[0] == 0
    code, _, err = cli("category", "show", "dogs")
    assert code == 1 and "No category named 'dogs'" in err and "Traceback" not in err


def test_heatmap_json_and_overlay(cli, tmp_path):
    photo = cli.photos / "orientation" / "portrait_6.jpg"  # stored sideways, shown upright
    code, out, _ = cli("heatmap", str(photo), "a red car on the bridge", "--json")
    result = json.loads(out)
    assert code == 0
    assert result["words"] == ["red", "car", "bridge"]  # stop words hidden
    rows, cols = result["grid"]
    assert (rows, cols) == (8, 8)
    assert set(result["maps"]) == set(result["words"])
    assert all(len(m) == rows and all(len(r) == cols for r in m) for m in result["maps"].values())
    with Image.open(cli.photos / "orientation" / "portrait_1.jpg") as upright:
        assert result["image_size"] == list(upright.size)
    out_file = tmp_path / "overlay.png"
    assert cli("heatmap", str(photo), "a car", "--out", str(out_file))[0] == 0
    with Image.open(out_file) as overlay:
        assert overlay.size == tuple(result["image_size"])
    code, _, err = cli("heatmap", str(tmp_path / "missing.jpg"), "a car")
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
