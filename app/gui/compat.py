"""A guard against a reference-counting fault in PySide6 on Python 3.11 and older.

PySide6 6.12 returns None from a C++ method that returns nothing (`widget.hide()`,
`painter.drawLine(...)`, `scrollbar.setRange(...)`) without taking a reference to it. From Python
3.12 on None is immortal and this is harmless; on 3.11 every such call takes one reference from
None, and once its few thousand references are gone Python aborts ("deallocating None") or
crashes in whatever runs next. Painting a grid makes hundreds of such calls a frame, so the app
died within seconds of scrolling. Giving None an effectively endless supply of references (as
3.12 does) makes those calls harmless: at a million calls a second it would last for years.
"""

from __future__ import annotations

import ctypes
import sys

_SPARE_REFERENCES = 1 << 48


def keep_none_alive() -> None:
    """On Python < 3.12, give None more references than any run can take away (once)."""
    if sys.version_info >= (3, 12) or getattr(keep_none_alive, "done", False):
        return
    # A CPython object starts with its reference count (a Py_ssize_t).
    ctypes.c_ssize_t.from_address(id(None)).value += _SPARE_REFERENCES
    keep_none_alive.done = True  # type: ignore[attr-defined]
