"""`viewfinder install-desktop` and `viewfinder uninstall-desktop`: the applications-menu entry."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .desktop_entry import Placement, install, uninstall


def add_parsers(
    subparsers: argparse._SubParsersAction, add_library_arg: Callable[[argparse.ArgumentParser], None]
) -> None:
    subparsers.add_parser(
        "install-desktop", help="add Viewfinder (entry and icon) to the desktop's applications menu"
    )
    subparsers.add_parser("uninstall-desktop", help="remove what install-desktop added")


def cmd_install_desktop(args: argparse.Namespace) -> int:
    try:
        written = install(Placement.for_user())
    except OSError as e:
        print(f"viewfinder: {e}", file=sys.stderr)
        return 1
    print("Viewfinder is now in your applications menu:")
    for path in written:
        print(f"  {path}")
    print("Undo with `viewfinder uninstall-desktop`.")
    return 0


def cmd_uninstall_desktop(args: argparse.Namespace) -> int:
    removed = uninstall(Placement.for_user())
    if not removed:
        print("Nothing to remove: Viewfinder was not in your applications menu.")
    for path in removed:
        print(f"removed {path}")
    return 0


COMMANDS = {"install-desktop": cmd_install_desktop, "uninstall-desktop": cmd_uninstall_desktop}
