"""Checks, before Qt starts, that the system libraries Qt's X11 (xcb) platform needs are there.

A fresh Debian or Ubuntu lacks some of them, and Qt's own error names only one. We name every
missing one and print the single command that installs them. Run as `python -m app.syslibs`.
"""

from __future__ import annotations

import ctypes
import os
import sys

# shared library -> the Debian/Ubuntu package that provides it (what Qt 6's xcb plugin links)
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def uses_xcb(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Whether Qt will pick its X11 platform: Linux, no other platform asked for, not Wayland."""
    if not sys.platform.startswith("linux"):
        return False
    platform = environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def missing_packages(libraries: dict[str, str] = XCB_LIBRARIES) -> list[str]:
    """The packages whose library cannot be loaded, in a stable order."""
    missing = []
    for library, package in libraries.items():
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(package)
    return sorted(set(missing))


def install_hint(packages: list[str]) -> str:
    return (
        "Viewfinder's window needs system libraries that are not installed: "
        + ", ".join(packages)
        + ".\nInstall them with:\n\n    sudo apt install "
        + " ".join(packages)
        + "\n"
    )


def check() -> int:
    """0 when the window can start; else prints the install command and returns 1."""
    if not uses_xcb():
        return 0
    packages = missing_packages()
    if packages:
        print(install_hint(packages), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(check())
