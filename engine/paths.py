"""Where a path lies relative to a library folder: the one test for "is under folder".

Comparisons are exact and case-sensitive (two folders differing only in case are different folders
on most file systems), and use the platform's separator. The SQL form of the same test lives in
engine/storage (`under_folder`), built on `prefix_range`.
"""

from __future__ import annotations

import os


def folder_prefix(folder: str, sep: str = os.sep) -> str:
    """The folder with exactly one trailing separator: every path inside it starts with this."""
    return folder if folder.endswith(sep) else folder + sep


def is_under(path: str, folder: str, sep: str = os.sep) -> bool:
    """True when `path` is `folder` itself or lies anywhere inside it."""
    return path == folder or path.startswith(folder_prefix(folder, sep))


def is_inside(path: str, folder: str, sep: str = os.sep) -> bool:
    """True when `path` lies inside `folder` (not the folder itself)."""
    return path != folder and path.startswith(folder_prefix(folder, sep))


def prefix_range(folder: str, sep: str = os.sep) -> tuple[str, str]:
    """(low, high) such that a path is inside `folder` exactly when low <= path < high, comparing
    strings by code point (SQLite's BINARY collation compares UTF-8 bytes, which orders the same).

    A range needs no escaping (unlike LIKE or GLOB patterns) and uses the index on the column.
    """
    prefix = folder_prefix(folder, sep)
    return prefix, prefix[:-1] + chr(ord(sep) + 1)
