"""Start the desktop app: `run_gui(library_dir)`, also `python -m app.gui.main [LIBRARY_DIR]`.

Only Qt and light engine modules are imported before the window shows; the library (which pulls
torch and open_clip) is opened by a worker afterwards.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from .main_window import MainWindow
from .style import apply_style

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def app_icon() -> QIcon:
    icon = QIcon()
    for name in ("viewfinder.svg", "viewfinder.png"):
        path = RESOURCES / name
        if path.is_file():
            icon.addFile(str(path))
    return icon


def create_app(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QApplication.setOrganizationName("Viewfinder")
    QApplication.setApplicationName("Viewfinder")
    QApplication.setDesktopFileName("viewfinder")
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setWindowIcon(app_icon())
    apply_style(app)
    return app


def run_gui(library_dir: str | None = None) -> int:
    """Show the main window on the library at `library_dir` (default: the user's) until it closes."""
    app = create_app()
    window = MainWindow(library_dir=library_dir, settings=QSettings())
    window.show()
    if os.environ.get("VIEWFINDER_EXIT_AFTER_SHOW"):  # benchmarks: measure time to first window
        QTimer.singleShot(0, lambda: (print(f"shown {_elapsed():.3f}", flush=True), window.close()))
    return app.exec()


def _elapsed() -> float:
    import time

    start = float(os.environ.get("VIEWFINDER_T0", "0") or 0)
    return time.time() - start if start else time.process_time()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(run_gui(sys.argv[1] if len(sys.argv) > 1 else None))
