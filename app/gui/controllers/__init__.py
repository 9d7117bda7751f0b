"""The app's controllers: each wires a part of the window to the engine through AppState."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirmed(parent: QWidget, title: str, question: str) -> bool:
    """Whether the user answers Yes to `question` (a change that cannot be undone)."""
    return QMessageBox.question(parent, title, question) == QMessageBox.StandardButton.Yes
