"""PySide6 6.12.0 took one reference from None on every call that returns nothing; on Python 3.11
(where None is not immortal) painting the grid aborted the app within seconds ("deallocating None").
pyproject.toml keeps PySide6 below 6.12; this fails if an installed version has the fault."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QPushButton


def test_calls_returning_nothing_keep_none_references(qtbot):
    button = QPushButton("x")
    qtbot.addWidget(button)
    before = sys.getrefcount(None)
    for _ in range(10_000):
        button.hide()
    assert sys.getrefcount(None) >= before - 100
