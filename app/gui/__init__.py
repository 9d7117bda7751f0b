"""The Viewfinder desktop app (PySide6). Entry point: `app.gui.main.run_gui`."""
