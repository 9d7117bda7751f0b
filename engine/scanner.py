"""Walk photo folders and compare what is on disk with what the library knows (mark and sweep)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from .photos import is_photo_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanDiff:
    """What changed in one folder since the library last looked."""

    folder: str
    new: list[tuple[str, int, float]] = field(default_factory=list)  # (path, size, mtime)
    changed: list[tuple[int, int, float]] = field(default_factory=list)  # (id, size, mtime)
    gone: list[int] = field(default_factory=list)  # photo ids
    seen: int = 0

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.gone)


def walk_photos(folder: str) -> Iterator[tuple[str, int, float]]:
    """(path, size, mtime) of every photo file under folder. Hidden entries and symlinked folders
    are skipped; unreadable folders are logged and skipped."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif is_photo_path(entry.name) and entry.is_file():
                            st = entry.stat()
                            yield entry.path, st.st_size, st.st_mtime
                    except OSError as e:  # vanished or unreadable between listing and stat
                        log.debug("skipping %s: %s", entry.path, e)
        except OSError as e:
            log.warning("cannot read folder %s: %s", current, e)


def diff_folder(folder: str, known: dict[str, tuple[int, int, float]]) -> ScanDiff:
    """Compare a folder on disk with known {path: (id, size, mtime)}."""
    diff = ScanDiff(folder)
    seen: set[str] = set()
    for path, size, mtime in walk_photos(folder):
        seen.add(path)
        row = known.get(path)
        if row is None:
            diff.new.append((path, size, mtime))
        elif row[1] != size or row[2] != mtime:
            diff.changed.append((row[0], size, mtime))
    diff.gone.extend(pid for path, (pid, _, _) in known.items() if path not in seen)
    return ScanDiff(folder, diff.new, diff.changed, diff.gone, len(seen))
