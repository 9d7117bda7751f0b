"""The Viewfinder desktop app (PySide6). Entry point: `app.gui.main.run_gui`."""

from .compat import keep_none_alive

keep_none_alive()
