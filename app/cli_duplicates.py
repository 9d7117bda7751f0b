"""`viewfinder duplicates`: groups of duplicate and near-duplicate photos, best copy first.

Viewfinder never modifies, moves or deletes a photo: this command only lists. `--json` gives a
user's own script the groups to act on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable


def add_parsers(
    subparsers: argparse._SubParsersAction, add_library_arg: Callable[[argparse.ArgumentParser], None]
) -> None:
    from engine.duplicates import DEFAULT_THRESHOLD

    p = subparsers.add_parser(
        "duplicates",
        help="list groups of duplicate and near-duplicate photos (never changes them)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of groups (lists of photos)")
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        metavar="X",
        help=f"how alike two photos must be, 0..1 (1: the same picture; default {DEFAULT_THRESHOLD})",
    )
    add_library_arg(p)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from app.cli import ProgressBar, UsageError, open_library
    from engine.duplicates import DuplicateSettings

    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError(f"--threshold must be between 0 and 1, got {args.threshold}")
    bar = ProgressBar()
    with open_library(args) as library:
        groups = library.duplicates(DuplicateSettings(threshold=args.threshold), progress=bar)
    bar.close()
    if args.json:
        print(json.dumps([g.to_json() for g in groups], indent=1))
        return 0
    if not groups:
        print("No duplicates found.")
        return 0
    for number, group in enumerate(groups, 1):
        print(f"Group {number}: {len(group.copies)} copies")
        for copy in group.copies:
            p = copy.photo
            mark = "*" if copy.best else " "
            size = f"{p.width}x{p.height}" if p.width and p.height else "?"
            when = dt.datetime.fromtimestamp(p.taken_at if p.taken_at is not None else p.mtime)
            how = "same file content" if copy.exact and not copy.best else f"{copy.similarity:.2f}"
            also = f"  (+ {', '.join(copy.companions)})" if copy.companions else ""
            print(f" {mark} {p.path}  {size}  {p.size / 1e6:.1f} MB  {when:%Y-%m-%d %H:%M}  {how}{also}")
    copies = sum(len(g.copies) - 1 for g in groups)
    print(f"{len(groups)} groups, {copies} extra copies (* marks the best copy; nothing was changed)")
    return 0


COMMANDS = {"duplicates": cmd_duplicates}
