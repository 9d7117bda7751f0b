"""Arrays kept in .npz files beside a library or a model's graphs (kept text vectors, tag fits):
written whole, so a reader in another process never sees half a file, and read without pickle. A
file that cannot be read or written is logged and treated as absent: these files are caches."""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def read(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays in the file at `path`; None when it is missing or cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # damaged, cut short, not an .npz
        log.info("%s not usable: %s", path, e)
        return None


def write(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Replace the file at `path` at once: written beside it under a temporary name, then renamed.
    False when it cannot be written (a full disk, a folder not writable)."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        os.replace(tmp, path)
        return True
    except OSError as e:
        log.info("%s not kept: %s", path, e)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False
