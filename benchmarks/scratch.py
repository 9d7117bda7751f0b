"""Scratch folders for the benchmarks, removed when the benchmark ends: the graphs exported for a
real model take gigabytes, and left behind, a few runs fill a disk."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def scratch_folder(prefix: str) -> Path:
    """A new empty folder, removed when the process exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def private_cache(prefix: str = "viewfinder-cache-") -> None:
    """Point VIEWFINDER_CACHE at a scratch folder, unless the caller chose a cache."""
    if "VIEWFINDER_CACHE" not in os.environ:
        os.environ["VIEWFINDER_CACHE"] = str(scratch_folder(prefix))
