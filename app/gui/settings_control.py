"""The settings dialog, applying settings (thumbnail size, device, model) and the saved window geometry.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import AppSettings, SettingsDialog

if TYPE_CHECKING:
    pass


class SettingsMixin:
    """Methods of `MainWindow`; see the module docstring."""

    def open_settings(self, focus_model: bool = False) -> None:
        model = (
            (self.library.target_model.name, self.library.target_model.pretrained)
            if self.library
            else ("", None)
        )
        library_dir = str(self.library.path) if self.library is not None else (self._library_dir or "")
        dialog = SettingsDialog(self.app_settings, model, library_dir, self, focus_model=focus_model)
        if dialog.exec():
            self.apply_settings(dialog.result_settings(self.app_settings), dialog.model())

    def apply_settings(self, new: AppSettings, model: tuple[str, str | None] | None = None) -> None:
        """Store new settings and act on them: thumbnail size now, model switch in the background."""
        new.save(self.qsettings)
        self.app_settings = new
        if new.thumb_size != self.results.thumb_size:
            self.delegate.thumb_size = new.thumb_size
            self.grid.setGridSize(self.delegate.cell_size())
            self.results.set_thumb_size(new.thumb_size)
        if self.library is None:
            return
        self.library.device = new.device
        if model is not None:
            from engine.config import ModelSpec

            spec = ModelSpec(*model)
            if spec.key != self.library.target_model.key:
                self.set_model(spec)

    def set_model(self, spec: Any) -> None:
        """Switch the library's model: re-index in the background; search keeps the old vectors."""
        library = self.library
        assert library is not None

        def switched(_r: object) -> None:
            self.refresh_status()
            self.load_model()
            self.cancel_indexing()
            self._index_again = True
            if not self._index_running:
                self._index_again = False
                self.start_indexing()

        self.runner.submit(lambda: library.set_model(spec), switched, self._folder_error)

    def _restore_geometry(self) -> None:
        geometry = self.qsettings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)  # type: ignore[arg-type]
        splitter = self.qsettings.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)  # type: ignore[arg-type]
