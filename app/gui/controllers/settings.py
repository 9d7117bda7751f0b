"""The settings dialog and acting on its answer: thumbnail size now, a model switch in the background."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QWidget

from ..settings import AppSettings, SettingsDialog
from ..state import AppState
from ..views import Views
from .model import ModelController


class SettingsController(QObject):
    def __init__(
        self,
        state: AppState,
        views: Views,
        model: ModelController,
        qsettings: QSettings,
        settings: AppSettings,
        library_dir: str | None,
        window: QWidget,
    ):
        super().__init__(window)
        self.state, self.views, self.model, self.window = state, views, model, window
        self.qsettings = qsettings
        self.settings = settings
        self.library_dir = library_dir

    def current_library_dir(self) -> str:
        """The folder of the open library (or of the one being opened)."""
        library = self.state.library
        return str(library.path) if library is not None else (self.library_dir or "")

    def open_settings(self, focus_model: bool = False) -> SettingsDialog:
        dialog = SettingsDialog(
            self.settings,
            self.state.model.target,
            self.current_library_dir(),
            self.window,
            focus_model=focus_model,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply(dialog.result_settings(self.settings), dialog.model()))
        dialog.open()
        return dialog

    def apply(self, new: AppSettings, model: tuple[str, str | None] | None = None) -> None:
        """Store new settings and act on them: thumbnail size now, model switch in the background."""
        new.save(self.qsettings)
        self.settings = new
        views = self.views
        if new.thumb_size != views.results.thumb_size:
            views.results.set_thumb_size(new.thumb_size)
        library = self.state.library
        if library is None:
            return
        library.device = new.device
        if model is not None and model != self.state.model.target:
            self.model.switch_model(model)
