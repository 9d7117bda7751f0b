"""Handing a photo to the rest of the desktop: open it in the default app, show it in the file
manager (selected, through the freedesktop FileManager1 D-Bus interface where a file manager
offers it, else by opening its folder). Each returns whether it worked, so the window can say so.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

FILE_MANAGER = "org.freedesktop.FileManager1"
DBUS_TIMEOUT_MS = 3000


def open_with_default_app(path: str) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(path))


def show_in_folder(path: str) -> bool:
    """Show the file selected in the file manager; else open its folder."""
    return select_in_file_manager(path) or QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))


def select_in_file_manager(path: str) -> bool:
    """org.freedesktop.FileManager1.ShowItems (Nautilus, Dolphin, Nemo, Thunar, ...)."""
    try:
        from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage
    except ImportError:  # a Qt build without D-Bus (macOS, Windows)
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    names = bus.interface()
    if names is None:
        return False
    registered = names.isServiceRegistered(FILE_MANAGER).value()
    if not registered and FILE_MANAGER not in (names.activatableServiceNames().value() or []):
        return False
    message = QDBusMessage.createMethodCall(
        FILE_MANAGER, "/org/freedesktop/FileManager1", FILE_MANAGER, "ShowItems"
    )
    message.setArguments([[QUrl.fromLocalFile(path).toString()], ""])
    reply = bus.call(message, QDBus.CallMode.Block, DBUS_TIMEOUT_MS)
    return reply.type() != QDBusMessage.MessageType.ErrorMessage


def cannot_open_text(path: str, what: str) -> str:
    """One sentence for when the desktop has no app to do `what`."""
    return f"This computer has no app set up to {what}. The photo is at:\n{path}"
