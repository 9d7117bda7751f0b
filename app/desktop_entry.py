"""Registering the app with the desktop: the applications-menu entry and its icon, in the user's
freedesktop folders (XDG_DATA_HOME, default ~/.local/share), and removing them again.

Linux and other freedesktop systems only; elsewhere `install` says what to do instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent / "resources"
APP_ID = "viewfinder"


@dataclass(frozen=True)
class Placement:
    """Where each file goes."""

    entry: Path
    icon_svg: Path
    icon_png: Path

    @classmethod
    def for_user(cls, data_home: str | os.PathLike[str] | None = None) -> Placement:
        base = Path(data_home or os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        icons = base / "icons" / "hicolor"
        return cls(
            entry=base / "applications" / f"{APP_ID}.desktop",
            icon_svg=icons / "scalable" / "apps" / f"{APP_ID}.svg",
            icon_png=icons / "256x256" / "apps" / f"{APP_ID}.png",
        )

    def files(self) -> tuple[Path, Path, Path]:
        return self.entry, self.icon_svg, self.icon_png


def launcher_command() -> str:
    """The command the menu entry runs: the `viewfinder` script of this installation."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "viewfinder" and script.is_file():
        return f"{script} gui"
    found = shutil.which("viewfinder")
    if found:
        return f"{found} gui"
    return f"{sys.executable} -m app.cli gui"


def entry_text(command: str) -> str:
    """The .desktop file, with Exec pointing at `command` (the template ships in resources/)."""
    lines = (RESOURCES / f"{APP_ID}.desktop").read_text(encoding="utf-8").splitlines()
    return "\n".join(f"Exec={command}" if line.startswith("Exec=") else line for line in lines) + "\n"


def install(placement: Placement, command: str | None = None) -> list[Path]:
    """Write the entry and the icons; returns the files written. Existing files are replaced."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        raise OSError(
            "Desktop registration is for Linux desktops. On macOS and Windows, start Viewfinder with "
            "`viewfinder` (or pin the running app to the Dock or taskbar)."
        )
    placement.entry.parent.mkdir(parents=True, exist_ok=True)
    placement.entry.write_text(entry_text(command or launcher_command()), encoding="utf-8")
    for source, target in ((RESOURCES / f"{APP_ID}.svg", placement.icon_svg),
                           (RESOURCES / f"{APP_ID}.png", placement.icon_png)):  # fmt: skip
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    _refresh_caches(placement)
    return list(placement.files())


def uninstall(placement: Placement) -> list[Path]:
    """Remove what `install` wrote; returns the files removed (none is an error)."""
    removed = []
    for path in placement.files():
        if path.is_file():
            path.unlink()
            removed.append(path)
    _refresh_caches(placement)
    return removed


def _refresh_caches(placement: Placement) -> None:
    """Tell menus and icon themes (best effort: the tools are optional)."""
    for command in (
        ["update-desktop-database", str(placement.entry.parent)],
        ["gtk-update-icon-cache", "-q", "-t", str(placement.icon_svg.parents[2])],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, capture_output=True)
