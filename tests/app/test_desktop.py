"""Living on the desktop: the applications-menu entry and its undo, the system-library check before
Qt starts, and a clear message when no app can open a photo or its folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app import syslibs
from app.cli import main
from app.desktop_entry import Placement


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="freedesktop folders")
def test_install_desktop_registers_entry_and_icons_and_uninstall_removes_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    placement = Placement.for_user()
    assert main(["install-desktop"]) == 0
    entry = placement.entry.read_text()
    assert placement.entry == tmp_path / "share" / "applications" / "viewfinder.desktop"
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" gui") and ("/" in exec_line)  # an absolute command, not a bare name
    assert "Icon=viewfinder" in entry and "Name=Viewfinder" in entry
    assert placement.icon_svg.read_bytes().lstrip().startswith(b"<")
    assert placement.icon_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "uninstall-desktop" in capsys.readouterr().out

    assert main(["uninstall-desktop"]) == 0
    assert not any(p.exists() for p in placement.files())
    assert main(["uninstall-desktop"]) == 0
    assert "Nothing to remove" in capsys.readouterr().out


def test_missing_system_libraries_give_one_install_command():
    libraries = {"libc.so.6": "libc6", "libnot-there-1.so.7": "libnot-there1", "libnope.so.2": "libnope2"}
    missing = syslibs.missing_packages(libraries)
    assert missing == ["libnope2", "libnot-there1"]
    hint = syslibs.install_hint(missing)
    assert "sudo apt install libnope2 libnot-there1" in hint
    assert syslibs.uses_xcb({"QT_QPA_PLATFORM": "offscreen"}) is False
    assert syslibs.uses_xcb({"QT_QPA_PLATFORM": "xcb"}) is sys.platform.startswith("linux")


def test_open_and_show_in_folder_say_so_when_no_app_can(qtbot, window, photo_dir: Path, monkeypatch):
    from app.gui import desktop

    monkeypatch.setattr(desktop.QDesktopServices, "openUrl", lambda _url: False)
    monkeypatch.setattr(desktop, "select_in_file_manager", lambda _path: False)
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: said.append(text))
    with qtbot.waitSignal(window.indexing.finished, timeout=120_000):
        window.library_control.add_folders([str(photo_dir)])
    qtbot.waitUntil(lambda: window.views.results.rowCount() > 0, timeout=30_000)
    window.viewer_control.open(0)
    viewer = window.views.viewer
    qtbot.mouseClick(viewer.open_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(viewer.folder_button, Qt.MouseButton.LeftButton)
    assert len(said) == 2
    assert all("no app set up" in text and viewer.hit.path in text for text in said)
