"""Walk photo folders and compare what is on disk with what the library knows (mark and sweep).

A folder that cannot be listed (permissions, a network share that dropped, an automount that is
empty for a moment) is *unavailable*, not empty: the photos the library knows under it are kept.
Symlinked folders are followed once: photos keep the path the user sees (through the link), a folder
reached twice (two links, or a link and the folder itself) is walked once, and loops end.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from .paths import is_under
from .photos import is_photo_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanDiff:
    """What changed in one folder since the library last looked."""

    folder: str
    new: list[tuple[str, int, float]] = field(default_factory=list)  # (path, size, mtime)
    changed: list[tuple[int, int, float]] = field(default_factory=list)  # (id, size, mtime)
    gone: list[int] = field(default_factory=list)  # photo ids
    seen: int = 0
    unavailable: list[str] = field(default_factory=list)  # subfolders (or files) that could not be read

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.gone)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def walk_photos(folder: str, unavailable: list[str] | None = None) -> Iterator[tuple[str, int, float]]:
    """(path, size, mtime) of every photo file under folder. Hidden entries are skipped; symlinked
    folders are followed once. Folders and files that cannot be read are appended to `unavailable`
    (and logged)."""
    unreadable = unavailable if unavailable is not None else []
    visited = {_identity(folder)}
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as e:
            log.warning("cannot read folder %s: %s", current, e)
            unreadable.append(current)
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():  # follows links: a linked folder is walked under the link's path
                    folders.append(entry)
                elif is_photo_name(entry.name) and entry.is_file():
                    st = entry.stat()
                    yield entry.path, st.st_size, st.st_mtime
            except FileNotFoundError:  # vanished between listing and stat: it is gone
                log.debug("skipping %s: vanished", entry.path)
            except OSError as e:  # unreadable: keep what the library knows about it
                log.warning("cannot read %s: %s", entry.path, e)
                unreadable.append(entry.path)
        # Real folders before links, so a folder reachable both ways keeps its own path.
        for entry in sorted(folders, key=lambda e: e.is_symlink()):
            identity = _identity(entry.path)
            if identity is None:
                unreadable.append(entry.path)
            elif identity not in visited:  # a loop, or a folder already walked through another path
                visited.add(identity)
                stack.append(entry.path)


def diff_folder(folder: str, known: dict[str, tuple[int, int, float]]) -> ScanDiff:
    """Compare a folder on disk with known {path: (id, size, mtime)}. Photos under a part that
    could not be read are not gone: they are kept as they are."""
    new, changed = [], []
    unavailable: list[str] = []
    seen: set[str] = set()
    for path, size, mtime in walk_photos(folder, unavailable):
        seen.add(path)
        row = known.get(path)
        if row is None:
            new.append((path, size, mtime))
        elif row[1] != size or row[2] != mtime:
            changed.append((row[0], size, mtime))
    gone = [
        pid
        for path, (pid, _, _) in known.items()
        if path not in seen and not any(is_under(path, u) for u in unavailable)
    ]
    return ScanDiff(folder, new, changed, gone, len(seen), unavailable)
