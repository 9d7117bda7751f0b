"""The layering rule: engine and trainer never import Qt or the app (STYLE.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import importlib, pkgutil, sys

class Forbidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"PySide6", "shiboken6", "PyQt5", "PyQt6", "app"}:
            raise ImportError(f"forbidden import: {name}")
        return None

sys.meta_path.insert(0, Forbidden())
import engine, trainer
modules = []
for package in (engine, trainer):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        modules.append(info.name)
print(len(modules))
"""


def test_engine_and_trainer_import_without_qt_or_app():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 10  # every module was imported


APP_STATE_PROBE = """
import sys

class Forbidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"PySide6", "shiboken6", "PyQt5", "PyQt6"}:
            raise ImportError(f"forbidden import: {name}")
        return None

sys.meta_path.insert(0, Forbidden())
import app.gui.state, app.gui.jobs
print("ok")
"""


def test_app_state_and_jobs_import_without_qt():
    """The application state and the worker jobs are plain Python (napari's model/view split)."""
    result = subprocess.run([sys.executable, "-c", APP_STATE_PROBE], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
