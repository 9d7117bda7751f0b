"""PySide6 calls that return nothing must not use up None's references (see app/gui/compat.py)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QPushButton

import app.gui  # noqa: F401  (installs the guard)


def test_many_calls_returning_nothing_are_survived(qtbot):
    button = QPushButton("x")
    qtbot.addWidget(button)
    for _ in range(50_000):  # far more than None's own references on Python 3.11
        button.hide()
    assert sys.getrefcount(None) > 1_000_000
