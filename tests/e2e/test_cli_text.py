"""Text in photos from the command line: `index --ocr`, `text PHOTO`, and search by a word."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from tests.text_images import noise_background, render_text


@pytest.fixture
def run(tmp_path, capsys, tiny_config):
    library = tmp_path / "library"

    def run_(*args: str) -> tuple[int, str, str]:
        argv = [*args, "--library", str(library)]
        if args[0] == "index":
            argv += ["--model", str(tiny_config)]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run_


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    render_text("HARBOUR", size=44, background=noise_background((480, 360), 1), angle=6).save(folder / "sign.png")
    noise_background((480, 360), 2).save(folder / "wall.png")
    return folder


def test_index_reads_text_and_text_shows_it(run, photos):
    code, out, err = run("index", str(photos))
    assert code == 0, err
    assert "Text: looked at 2 photos" in out and "1 with text, 1 (50%) skipped by the gate" in out
    code, out, _ = run("text", str(photos / "sign.png"))
    assert code == 0 and out.strip() == "HARBOUR"
    code, out, _ = run("text", str(photos / "sign.png"), "--json")
    shown = json.loads(out)
    assert shown["status"] == "read" and shown["lines"][0]["text"] == "HARBOUR"
    assert len(shown["lines"][0]["box"]) == 4
    code, out, _ = run("text", str(photos / "wall.png"))
    assert code == 0 and "No text detected" in out
    code, out, _ = run("search", "harbour", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["path"] == str(photos / "sign.png") and "text" in hits[0]["matched"]
    code, out, _ = run("index", str(photos), "--ocr", "all")  # reads what the gate skipped
    assert code == 0 and "Text: looked at 1 photos" in out
    code, out, _ = run("text", str(photos / "wall.png"))
    assert out.strip() == "No text found."


def test_ocr_off_reads_nothing_and_text_says_so(run, photos):
    code, out, _ = run("index", str(photos), "--ocr", "off")
    assert code == 0 and "Text:" not in out
    code, _, err = run("text", str(photos / "sign.png"))
    assert code == 1 and "has not been read yet" in err and "Traceback" not in err
    code, _, err = run("text", str(photos / "missing.png"))
    assert code == 1 and "no such file" in err
