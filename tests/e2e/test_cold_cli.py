"""Commands that need no model start without importing torch or open_clip (seconds of import time),
nor the decoders of RAW and HEIC photos when they open none (a tenth of a second)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.cli import main
from tests.synthetic import write_scenes

ROOT = Path(__file__).resolve().parents[2]

# Runs one command in a fresh interpreter, then prints which heavy modules it imported.
_PROBE = """
import json, sys
from app.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "open_clip", "torchvision", "timm", "rawpy", "pillow_heif", "openvino")
               if m in sys.modules)
print("@@" + json.dumps({"code": code, "heavy": heavy}))
"""


def _cold(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("@@"))
    return json.loads(line[2:])


def _cold_output(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_commands_without_a_model_never_import_torch(tmp_path, tiny_config, capsys, monkeypatch):
    # the runtime on, with a private cache: indexing exports the graphs, later commands use them
    monkeypatch.setenv("VIEWFINDER_PRECISION", "fp32")
    monkeypatch.setenv("VIEWFINDER_CACHE", str(tmp_path / "cache"))
    photos = tmp_path / "photos"
    write_scenes(photos, 6, colours=3)
    library = str(tmp_path / "library")
    assert main(["index", str(photos), "--library", library, "--model", str(tiny_config)]) == 0
    assert main(["category", "add", "reds", "--library", library, "--prompt", "a red square"]) == 0
    added = capsys.readouterr().out
    monkeypatch.setenv("VIEWFINDER_PRECISION", "torch")  # the reference answer, by eager torch
    assert main(["search", "a red square", "--json", "-k", "3", "--library", library]) == 0
    warm = capsys.readouterr().out.splitlines()[-1]
    monkeypatch.setenv("VIEWFINDER_PRECISION", "fp32")
    capsys.readouterr()
    photo = str(next(photos.rglob("*.png")))
    for command in (
        ["status", "--json"],
        ["tags"],
        ["tag", photo, "my garden"],
        ["tags", "--json"],
        ["category", "list"],
        ["search", "a red square", "--json", "-k", "3"],
    ):
        result = _cold(*command, "--library", library)
        assert result["code"] == 0, command
        runtime = ["openvino"] if command[0] == "search" else []  # only a search runs a model
        assert [m for m in result["heavy"] if m not in runtime] == [], f"{command[0]} imported {result['heavy']}"
    # the album count a cold `category list` shows is the one `category add` computed
    listed = json.loads(_cold_output("category", "list", "--json", "--library", library))
    assert f"({listed[0]['count']} photos)" in added
    # a cold search through the runtime answers as torch did
    cold = _cold_output("search", "a red square", "--json", "-k", "3", "--library", library)
    assert [h["path"] for h in json.loads(cold)] == [h["path"] for h in json.loads(warm)]
    # and the tag really landed (the check above would pass on a command that did nothing)
    assert "my garden" in subprocess.run(
        [sys.executable, "-m", "app.cli", "tags", "--library", library],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    ).stdout
